"""The real site builds strictly; bad data and unknown keys stop the build and say where."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.pages import REPO

MKDOCS = str(Path(sys.executable).parent / "mkdocs")


def build(config: Path, site: Path, results_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if results_dir is not None:
        env["RUNBOOK_RESULTS_DIR"] = str(results_dir)
    return subprocess.run([MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site)], capture_output=True,
                          text=True, env=env, timeout=120, cwd=REPO)


def test_site_builds_strictly_with_runbooks_under_runbooks(tmp_path: Path) -> None:
    """Assert the strict build passes, publishes /runbooks/<page>/, and leaves Jinja in code intact."""
    done = build(REPO / "mkdocs.yml", tmp_path / "site", tmp_path / "no-results")
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "runbooks" / "cache-disk-failure" / "index.html").read_text()
    assert "Diagnostics not run in this checkout" in page
    assert 'class="safety safety-mutating"' in page
    assert re.search(r"85\.0 %", (tmp_path / "site/runbooks/cache-hit-rate-low/index.html").read_text())
    authoring = (tmp_path / "site" / "authoring" / "index.html").read_text()
    assert "{{ $labels.instance }}" in authoring
    assert "not measured yet" in (tmp_path / "site" / "baselines" / "index.html").read_text()


def _project(tmp_path: Path, page: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(page)
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\nstrict: true\ntheme: {name: material, font: false}\nplugins:\n  - macros:\n"
        f"      module_name: {REPO / 'scripts' / 'site_macros'}\n      on_error_fail: true\n"
        "      on_undefined: strict\n")
    return config


def test_unknown_threshold_key_fails_naming_page_and_key(tmp_path: Path) -> None:
    """Assert a page asking for a threshold that does not exist fails the build with page and key."""
    done = build(_project(tmp_path, '# T\n\nLimit: {{ threshold("ws.typo") }}\n'), tmp_path / "site")
    assert done.returncode != 0
    assert "index.md: unknown threshold key 'ws.typo'" in done.stderr + done.stdout


def test_undefined_variable_fails(tmp_path: Path) -> None:
    """Assert a misspelt macro name is an error, not an empty string in the page."""
    done = build(_project(tmp_path, "# T\n\n{{ treshold('x') }}\n"), tmp_path / "site")
    assert done.returncode != 0 and "treshold" in done.stderr + done.stdout


def test_malformed_results_file_fails_the_build_with_its_path(tmp_path: Path) -> None:
    """Assert a broken results/baselines.json stops the build in one line naming the file."""
    bad = tmp_path / "results"
    bad.mkdir()
    (bad / "baselines.json").write_text('{"generated_at": "2026-11-26T00:00:00"}')
    done = build(_project(tmp_path, "# T\n"), tmp_path / "site", bad)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR   -  site data: {bad / 'baselines.json'}: missing provenance field 'commit'"], done.stderr
    assert "Traceback" not in done.stderr
