"""A page whose expected output is wrong must turn the suite red."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sybil import Document

from scripts.live import Live
from tests.support import REPO
from tests.support.sybil_pages import parse_page

PAGE = REPO / "runbooks" / "database-unavailable.md"
ORIGINAL = "    wal\n"
MUTANT = "    delete\n"


def evaluate(path: Path, backend: Live) -> list[tuple[int, str]]:
    """Run every example of ``path`` against ``backend``; return (line, message) of each failure."""
    failures = []
    document = Document.parse(str(path), parse_page)
    document.namespace["live_backend"] = backend
    for example in document:
        try:
            example.evaluate()
        except AssertionError as exc:
            failures.append((example.line, str(exc)))
        except pytest.skip.Exception:
            pass
    return failures


def test_changing_one_expected_line_makes_the_page_fail(tmp_path: Path, live_backend: Live) -> None:
    """Assert the untouched copy passes and the copy with one expected line changed fails at that block."""
    text = PAGE.read_text()
    assert text.count(ORIGINAL) == 1, "the line this test mutates moved; pick another"
    control = tmp_path / "control.md"
    shutil.copy(PAGE, control)
    assert evaluate(control, live_backend) == []
    mutant = tmp_path / "mutant.md"
    mutant.write_text(text.replace(ORIGINAL, MUTANT))
    failures = evaluate(mutant, live_backend)
    assert len(failures) == 1
    line, message = failures[0]
    assert "output differs from the page" in message
    wrong = text.splitlines().index(ORIGINAL.rstrip("\n")) + 1  # the same line in the mutant
    assert re.search(rf"^- +{wrong} \| delete$", message, re.M) and re.search(r"^\+ +\| wal$", message, re.M), message
    assert text.splitlines()[line - 1].strip().startswith("$ "), "the failing example is the command's line"
