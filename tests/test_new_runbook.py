"""``make new-runbook``, run in a scratch copy: it writes the page, the limit and the nav entry, and
every placeholder it leaves fails loudly: the lint names each line of the page, the thresholds
loader the limit's fields. A second run for the same alert is refused."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks.errors import ThresholdsError
from checks.thresholds import load as load_thresholds
from docsite.lint import lint_runbook
from tests.support import REPO


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "checks").mkdir()
    shutil.copy(REPO / "checks" / "thresholds.yaml", tmp_path / "checks" / "thresholds.yaml")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "runbooks", tmp_path / "runbooks")
    return tmp_path


def _scaffold(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.new_runbook", *args, "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scaffold_writes_page_limit_and_nav_and_every_placeholder_fails(scratch: Path) -> None:
    """Assert the three files, the next steps printed, the lint naming each TODO line, and the limit refused."""
    done = _scaffold(scratch, "QueueBacklogHigh", "--key", "queue.backlog_ratio")
    assert done.returncode == 0, done.stderr
    page = scratch / "runbooks" / "queue-backlog-high.md"
    assert page.exists() and "make gameday PAGE=runbooks/queue-backlog-high.md" in done.stdout
    assert "      - runbooks/queue-backlog-high.md\n" in (scratch / "mkdocs.yml").read_text()
    problems = lint_runbook(page)
    todo_lines = [n for n, line in enumerate(page.read_text().splitlines(), 1) if "TODO" in line]
    named = sorted(int(m.group(1)) for p in problems if (m := re.search(r"\.md:(\d+): unfilled placeholder", p)))
    assert named == todo_lines and len(named) >= 8, problems
    assert any("severity 'TODO-critical-or-warning'" in p for p in problems), problems
    with pytest.raises(ThresholdsError, match=r"queue.backlog_ratio: fill in the placeholder in promql, why, fixture"):
        load_thresholds(scratch / "checks" / "thresholds.yaml")


def test_scaffold_refuses_an_alert_or_page_that_exists(scratch: Path) -> None:
    """Assert an existing page, limit key or alert name is a one-line error with exit 2, and nothing is written."""
    before = (scratch / "checks" / "thresholds.yaml").read_text(), (scratch / "mkdocs.yml").read_text()
    for args in (
        ["BackendDown", "--slug", "brand-new"],
        ["Anything", "--slug", "backend-down"],
        ["Anything", "--key", "backend.up"],
        ["not-camel"],
    ):
        done = _scaffold(scratch, *args)
        assert done.returncode == 2 and ": error: " in done.stderr.strip().splitlines()[-1], (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    assert ((scratch / "checks" / "thresholds.yaml").read_text(), (scratch / "mkdocs.yml").read_text()) == before
