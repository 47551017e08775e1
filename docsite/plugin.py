"""The handbook's MkDocs plugin: runbooks published beside docs/, macros registered with
mkdocs-macros, code blocks protected from Jinja, safety labels, and each runbook's notice.

It must come before ``macros`` in ``plugins:`` so its page hook runs before Jinja renders the page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from checks.console import parse
from checks.errors import CheckError
from checks.routing import site_url
from docsite import macros
from docsite.config import HandbookConfig
from docsite.data import SiteData
from docsite.macros.drills import DrillMacros
from docsite.macros.limits import LimitMacros
from docsite.macros.verification import VerificationMacros
from docsite.markdown import prepare
from scripts import results
from scripts.alert_rules import RULES, TESTS, render_rules, render_tests
from scripts.results import ResultsError

__all__ = ["HandbookPlugin"]

_H1 = re.compile(r"^# .*$", re.MULTILINE)
OFFLINE_SHIM = "assets/vendor/iframe-worker/shim.js"  # search from file:// (vendored: docs/assets/vendor)


def _raw(parts: list[str]) -> str:
    """Text Jinja must leave alone (it was rendered here already)."""
    return "{% raw %}\n" + "\n\n".join(p for p in parts if p) + "\n{% endraw %}"


def _joined(gameday: str, verified: str) -> str:
    """Both notices as one: folded to one title line while both hold, open (and red or amber) when
    either does not, so a phone still shows the first command without scrolling."""
    if not (gameday.startswith("!!! success") and verified.startswith("!!! success")):
        return f"{gameday}\n\n{verified}"
    def title(notice: str) -> str:
        return notice.split('"')[1]
    body = "\n".join(line for notice in (gameday, verified) for line in notice.splitlines()[1:])
    return f'??? success "{title(gameday)} · {title(verified)}"\n    - {title(verified)}\n{body}'


def _folded(notice: str) -> str:
    """A notice that holds, as one title line; one that does not stays open."""
    return notice.replace("!!! success", "??? success", 1)


def _under_title(markdown: str, text: str) -> str:
    match = _H1.search(markdown)
    cut = match.end() if match else 0
    return f"{markdown[:cut]}\n\n{text}\n{markdown[cut:]}"


class HandbookPlugin(BasePlugin[HandbookConfig]):
    """``plugins: [search, handbook, macros]`` in ``mkdocs.yml``."""

    data: SiteData

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Load the limits and results once per build, give mkdocs-macros the macros, and sign the
        footer of every page with the handbook's version and commit."""
        root = Path(config.config_file_path).parent
        try:
            self.data = SiteData.load(Path(self.config.thresholds), Path(self.config.results),
                                      Path(self.config.runbooks), self.config.stale_after_days, root)
        except (ResultsError, CheckError) as exc:
            raise PluginError(f"site data: {exc}") from None
        self.data.site_url = site_url(config.site_url)
        offline = config.plugins.get("material/offline")
        if offline is not None and offline.config.enabled:  # before its on_config, which would fetch from a CDN
            config.extra["polyfills"] = [*config.extra.get("polyfills", []), OFFLINE_SHIM]
        commit = results.commit()
        config.copyright = (f"Backend operations handbook {results.version()} · commit {commit[:12]}"
                            f"{' with uncommitted changes' if commit.endswith('-dirty') else ''}")
        macros_plugin = config.plugins.get("macros")
        if macros_plugin is None or not hasattr(macros_plugin, "register_macros"):
            raise PluginError("the handbook plugin needs mkdocs-macros: add `- macros` after it under plugins")
        macros_plugin.register_macros(macros.collect(self.data))
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        """Add every runbook page, keeping its ``runbooks/`` path as its URL; note every page with
        commands to prove; publish the alert rules for the address this site is built for."""
        runbooks = Path(self.config.runbooks)
        for path in sorted(runbooks.rglob("*.md")):
            files.append(File(str(path.relative_to(runbooks.parent)), str(runbooks.parent), config["site_dir"],
                              config["use_directory_urls"]))
        try:
            self.data.proven_pages = sorted(
                key for f in files.documentation_pages()
                if (key := self._key(f)) and any(b.runnable for b in parse(f.content_string, Path(key))))
        except CheckError as exc:
            raise PluginError(str(exc)) from None
        limits = dict(self.data.limits)
        for name, text in ((RULES.name, render_rules(limits, self.data.site_url)),
                           (TESTS.name, render_tests(limits, self.data.site_url))):
            if (old := files.get_file_from_path(f"monitoring/{name}")) is not None:
                files.remove(old)
            files.append(File.generated(config, f"monitoring/{name}", content=text))
        return files

    def _key(self, file: File) -> str:
        """A page's path in the repository, the key of its rows in the test run (``docs/x.md``); a page
        from outside the project's directory (a test's small site) is keyed by its URI."""
        try:
            return Path(file.abs_src_path or "").resolve().relative_to(self.data.root.resolve()).as_posix()
        except ValueError:
            return file.src_uri

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Protect code blocks and label them; under a runbook's title, its notice and limits."""
        src = page.file.src_uri
        self.data.page = src
        source = page.file.content_string
        at = source.find(markdown) if markdown else -1
        first_line = source.count("\n", 0, at) + 1 if at > 0 else 1
        try:
            markdown = prepare(markdown, Path(src), first_line)
        except CheckError as exc:
            raise PluginError(str(exc)) from None
        if src.startswith("runbooks/") and not src.endswith("index.md"):
            markdown = self._with_header(markdown, src, page.meta)
        elif (key := self._key(page.file)) in self.data.proven_pages:
            markdown = _under_title(markdown, _raw([_folded(VerificationMacros(self.data).verified_notice(key))]))
        return markdown

    def _with_header(self, markdown: str, src: str, meta: dict[str, Any]) -> str:
        slug = src.removeprefix("runbooks/").removesuffix(".md")
        alerts = meta.get("alerts") or []
        verification = VerificationMacros(self.data)
        # under the title only what says whether to trust the page, folded while it holds (a phone
        # shows the first command without scrolling); the limits and the drill go after Diagnose
        notices = [_joined(verification.gameday_notice(src), verification.verified_notice(src))]
        later = [("Alerts: " + ", ".join(f"`{a}`" for a in alerts)) if alerts else "Symptom page: no alert.",
                 LimitMacros(self.data).limits_for(slug)]
        if meta.get("drill"):
            later.append(DrillMacros(self.data).drill_result(meta["drill"]))
        markdown = _under_title(markdown, _raw(notices))
        mitigate = markdown.find("\n## Mitigate")
        at = mitigate if mitigate != -1 else len(markdown)
        return f"{markdown[:at]}\n\n{_raw(later)}\n{markdown[at:]}"
