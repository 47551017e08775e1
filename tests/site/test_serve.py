"""``make serve`` as an author uses it: a macro error or a page error does not stop the server; the
error is shown at the top of the page and in the terminal, and fixing the page brings it back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.live import free_port, stop_process, wait_for
from tests.support import REPO

GOOD = "# Page\n\nThe limit is {{ threshold('ws.connections_ratio') }}.\n"
BAD_MACRO = "# Page\n\nThe limit is {{ threshold('ws.nope') }}.\n"
BAD_DIRECTIVE = "# Page\n\ntext\n\n<!-- checks: mutate -->\n```console\n$ true\n```\n"


def _project(tmp_path: Path) -> Path:
    """A one-page site configured as `make serve` runs the handbook (errors shown, not fatal)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(GOOD)
    (tmp_path / "results").mkdir()
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\ntheme: {name: material, font: false}\nplugins:\n"
        f"  - handbook:\n      thresholds: {REPO / 'checks' / 'thresholds.yaml'}\n      results: results\n"
        f"      runbooks: {REPO / 'runbooks'}\n      fail_on_error: false\n"
        "  - macros:\n      on_error_fail: false\n      on_undefined: strict\n"
    )
    return config


@pytest.mark.slow
def test_serve_survives_macro_and_page_errors_and_shows_them(tmp_path: Path) -> None:
    """Assert the server keeps answering through a bad macro key and a misspelt directive, each
    shown in the page (with the page and line for the directive) and logged, and recovers on a fix."""
    config = _project(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mkdocs",
                "serve",
                "--no-strict",
                "--dev-addr",
                f"127.0.0.1:{port}",
                "-f",
                str(config),
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
    page = tmp_path / "docs" / "index.md"

    def shows(text: str) -> bool:
        assert proc.poll() is None, f"mkdocs serve exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        return text in httpx.get(url, timeout=5).text

    try:
        wait_for(lambda: shows("The limit is 90.0 %"), 60, "the page to be served")
        page.write_text(BAD_MACRO)
        wait_for(lambda: shows("unknown threshold key"), 30, "the macro error in the page")
        page.write_text(BAD_DIRECTIVE)
        wait_for(lambda: shows("This page does not build"), 30, "the page error in the page")
        assert shows("index.md:5: unknown directive") and shows("did you mean")
        page.write_text(GOOD)
        wait_for(lambda: shows("The limit is 90.0 %") and not shows("does not build"), 30, "the fixed page")
    finally:
        stop_process(proc, signal.SIGINT, 15)
    terminal = log.read_text()
    assert "unknown threshold key 'ws.nope'" in terminal and "index.md:5: unknown directive" in terminal, terminal
