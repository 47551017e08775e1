"""The handbook's MkDocs plugin: runbooks published beside docs/, macros registered with
mkdocs-macros, code blocks protected from Jinja, safety labels, and each runbook's notice.

It must come before ``macros`` in ``plugins:`` so its page hook runs before Jinja renders the page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from checks.errors import CheckError
from checks.routing import site_url
from docsite import macros
from docsite.config import HandbookConfig
from docsite.data import MacroError, SiteData
from docsite.macros.drills import DrillMacros
from docsite.macros.limits import LimitMacros
from docsite.macros.verification import VerificationMacros
from docsite.markdown import include_snippets, prepare
from pages import PageError, leaks, page_of, parse
from scripts import results
from scripts.alert_rules import RULES, TESTS, render_rules, render_tests
from scripts.results import ResultsError

__all__ = ["HandbookPlugin"]

log = logging.getLogger("mkdocs.plugins.handbook")

_H1 = re.compile(r"^# .*$", re.MULTILINE)
OFFLINE_SHIM = "assets/vendor/iframe-worker/shim.js"  # search from file:// (vendored: docs/assets/vendor)


def _joined(*notices: str) -> str:
    """The notices as one: folded to one title line while every one holds (or only informs), open
    (and red or amber) when one does not, so a phone still shows the first command without scrolling."""
    if not all(n.startswith(("!!! success", "!!! info")) for n in notices):
        return "\n\n".join(notices)
    titles = [n.split('"')[1] for n in notices]
    body = [f"    - **{title}**" for title in titles[-1:]]
    body += [line for notice in notices for line in notice.splitlines()[1:]]
    return f'??? success "{" · ".join(titles)}"\n' + "\n".join(body)


def _folded(notice: str) -> str:
    """A notice that holds, as one title line; one that does not stays open."""
    return notice.replace("!!! success", "??? success", 1)


def _offset_of_line(text: str, line: int) -> int:
    """The index in ``text`` where its 1-based ``line`` starts."""
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset


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
            self.data = SiteData.load(
                Path(self.config.thresholds),
                Path(self.config.results),
                Path(self.config.runbooks),
                self.config.stale_after_days,
                root,
            )
        except (ResultsError, CheckError) as exc:
            raise PluginError(f"site data: {exc}") from None
        self.data.site_url = site_url(config.site_url)
        offline = config.plugins.get("material/offline")
        if offline is not None and offline.config.enabled:  # before its on_config, which would fetch from a CDN
            config.extra["polyfills"] = [*config.extra.get("polyfills", []), OFFLINE_SHIM]
        commit = results.commit()
        config.copyright = (
            f"Backend operations handbook {results.version()} · commit {commit[:12]}"
            f"{' with uncommitted changes' if commit.endswith('-dirty') else ''}"
        )
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
            files.append(
                File(
                    str(path.relative_to(runbooks.parent)),
                    str(runbooks.parent),
                    config["site_dir"],
                    config["use_directory_urls"],
                )
            )
        self.data.proven_pages = sorted(
            key for f in files.documentation_pages() if (key := self._key(f)) and self._has_commands(f, key)
        )
        limits = dict(self.data.limits)
        for name, text in (
            (RULES.name, render_rules(limits, self.data.site_url)),
            (TESTS.name, render_tests(limits, self.data.site_url)),
        ):
            if (old := files.get_file_from_path(f"monitoring/{name}")) is not None:
                files.remove(old)
            files.append(File.generated(config, f"monitoring/{name}", content=text))
        return files

    def _has_commands(self, file: File, key: str) -> bool:
        try:
            return any(b.runnable for b in parse(file.content_string, Path(key)))
        except PageError as exc:  # the page's own build says so, with its line
            if self.config.fail_on_error:
                raise PluginError(str(exc)) from None
            return False

    def _key(self, file: File) -> str:
        """A page's path in the repository, the key of its rows in the test run (``docs/x.md``); a page
        from outside the project's directory (a test's small site) is keyed by its URI."""
        try:
            return Path(file.abs_src_path or "").resolve().relative_to(self.data.root.resolve()).as_posix()
        except ValueError:
            return file.src_uri

    @event_priority(0)  # before macros, which comes after this plugin under plugins:
    def _protect(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Protect code blocks from Jinja and label them."""
        src = page.file.src_uri
        self.data.page = src
        source = page.file.content_string
        at = source.find(markdown) if markdown else -1
        first_line = source.count("\n", 0, at) + 1 if at > 0 else 1
        try:
            ready = prepare(markdown, Path(src), first_line)
            return include_snippets(ready, Path(src), Path(config.docs_dir))
        except PageError as exc:
            return self._failed(str(exc), markdown)

    @event_priority(-50)  # after macros: nothing here is Jinja, and a macro error's lines are the page's own
    def _notices(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Under a runbook's title its notices, after Diagnose its limits; under another page with
        commands, its proof."""
        src = page.file.src_uri
        self.data.page = src
        try:
            if src.startswith("runbooks/") and not src.endswith("index.md"):
                return self._with_header(markdown, src, page.meta)
            if (key := self._key(page.file)) in self.data.proven_pages:
                verification = VerificationMacros(self.data)
                notices = [verification.verified_notice(key)]
                if verification.rehearsals(key):  # a guide the rehearsal host is built from
                    notices.insert(0, verification.rehearsal_notice(key))
                return _under_title(markdown, _joined(*notices) if len(notices) > 1 else _folded(notices[0]))
        except MacroError as exc:
            return self._failed(str(exc), markdown)
        return markdown

    on_page_markdown = CombinedEvent(_protect, _notices)

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        """Markdown shown as text (a fence or a safety label inside a code block, after a list item
        indented three spaces) is an error: Sybil still runs such a block, so only the page shows it."""
        found = leaks(output)
        if found:
            message = f"{page.file.src_uri}: the rendered page shows Markdown as text: " + "; ".join(found[:3])
            if self.config.fail_on_error:
                raise PluginError(message)
            log.error("%s", message)
        return output

    def _failed(self, message: str, markdown: str) -> str:
        """A page error stops a strict build; for an author's `make serve` it is shown, in the
        terminal and at the top of the page, and the server keeps running."""
        if self.config.fail_on_error:
            raise PluginError(message)
        log.error("%s", message)
        body = "\n".join(f"    {line}" for line in message.splitlines())
        return f'!!! failure "This page does not build"\n{body}\n\n{markdown}'

    def _with_header(self, markdown: str, src: str, meta: Mapping[str, Any]) -> str:
        slug = src.removeprefix("runbooks/").removesuffix(".md")
        alerts = meta.get("alerts") or []
        verification = VerificationMacros(self.data)
        # under the title only what says whether to trust the page, folded while it holds (a phone
        # shows the first command without scrolling); the limits and the drill go after Diagnose
        notices = [
            _joined(
                verification.gameday_notice(src),
                verification.rehearsal_notice(src),
                verification.verified_notice(src),
            )
        ]
        later = [
            ("Alerts: " + ", ".join(f"`{a}`" for a in alerts)) if alerts else "Symptom page: no alert.",
            LimitMacros(self.data).limits_for(slug),
        ]
        later += [DrillMacros(self.data).drill_result(name) for name in results.drills_of(slug)]
        markdown = _under_title(markdown, "\n\n".join(notices))
        mitigate = page_of(markdown, Path(src)).sections.get("Mitigate")
        at = _offset_of_line(markdown, mitigate[0]) - 1 if mitigate else len(markdown)
        return f"{markdown[:at]}\n\n" + "\n\n".join(p for p in later if p) + f"\n{markdown[at:]}"
