"""Build a site in-process: the real mkdocs.yml, or a small one, over any results directory."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import MkDocsException

from tests.support import REPO

__all__ = ["BuildFailed", "build_site", "small_project"]


class BuildFailed(AssertionError):
    """The build stopped; the message is what mkdocs said, errors first."""


def build_site(config: Path, site: Path, caplog: pytest.LogCaptureFixture, results: Path | None = None) -> None:
    """Build ``config`` strictly into ``site``; ``results`` replaces the plugin's results directory."""
    cfg = load_config(str(config), site_dir=str(site), strict=True)
    if results is not None:
        cfg.plugins["handbook"].config["results"] = str(results)
    caplog.set_level(logging.WARNING, logger="mkdocs")
    try:
        build(cfg)
    except (MkDocsException, SystemExit) as exc:
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        raise BuildFailed("\n".join([*errors, str(exc)])) from None


def small_project(tmp_path: Path, page: str) -> Path:
    """A one-page site using the handbook plugin over the repository's limits and an empty results dir."""
    (tmp_path / "docs").mkdir(parents=True)
    (tmp_path / "docs" / "index.md").write_text(page)
    shutil.copytree(REPO / "docs" / "snippets", tmp_path / "docs" / "snippets")  # the runbooks include them
    (tmp_path / "results").mkdir(exist_ok=True)
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\nstrict: true\nexclude_docs: snippets/\ntheme: {name: material, font: false}\nplugins:\n"
        f"  - handbook:\n      thresholds: {REPO / 'checks' / 'thresholds.yaml'}\n      results: results\n"
        f"      runbooks: {REPO / 'runbooks'}\n"
        "  - macros:\n      on_error_fail: true\n      on_undefined: strict\n"
        # the handbook's own Markdown (the runbooks are built too): admonitions, fences in lists
        "markdown_extensions: [admonition, attr_list, sane_lists, pymdownx.details, pymdownx.superfences,"
        " {pymdownx.highlight: {pygments_lang_class: true}}]\n"
    )
    return config
