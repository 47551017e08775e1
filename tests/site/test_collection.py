"""No runnable block falls out of the test suite because of how its fence is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sybil import Document

from pages import RUNNABLE, parse_file
from tests.support import REPO
from tests.support.sybil_pages import fleet_pages, fleet_sybil, page_sybil, parse_page

PAGES = sorted([*REPO.glob("docs/*.md"), *REPO.glob("runbooks/*.md")])
_RUNNABLE_WORD = re.compile(r"(?i)(?<![\w-])(" + "|".join(sorted(RUNNABLE)) + r")(?![\w-])")


def fences_naming_a_runnable_language(path: Path) -> set[int]:
    """Line numbers of opening fences whose info string mentions a runnable language in any form."""
    return {block.start for block in parse_file(path) if _RUNNABLE_WORD.search(block.info)}


def collected_lines(path: Path) -> set[int]:
    """The fence of every block with a Sybil example inside it (a console command is its own example)."""
    document = Document.parse(str(path), parse_page)
    lines = {example.line for example in document}
    return {b.start for b in parse_file(path) if any(b.start <= line <= b.end for line in lines)}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_runnable_block_of_every_page_is_collected(page: Path) -> None:
    """Assert each fence naming console/bash/sh/shell/python/py becomes Sybil examples, and every
    command of a console block that runs is its own example, on its own line."""
    assert fences_naming_a_runnable_language(page) == collected_lines(page)
    lines = {example.line for example in Document.parse(str(page), parse_page)}
    for block in parse_file(page):
        if block.language == "console" and not block.is_fault_block and block.skip_reason == "":
            assert {step.line for step in block.steps} <= lines, f"{page}:{block.start}"


def test_the_suite_collects_every_page() -> None:
    """Assert Sybil's file patterns take every docs/ and runbooks/ page, and nothing else."""
    sybils = (page_sybil(), fleet_sybil())
    assert [p for p in PAGES if [s.should_parse(p) for s in sybils].count(True) != 1] == []
    assert not any(s.should_parse(REPO / "README.md") for s in sybils)
    assert fleet_pages(), "no page of the fleet: its Sybil collects nothing"
    assert len(PAGES) >= 19


def test_tricky_fence_tags_are_still_collected() -> None:
    """Assert titles, {.python}, spaces, capitals, tildes, indentation and long fences do not hide a block."""
    page = REPO / "tests" / "data" / "tricky-tags.md"
    expected = fences_naming_a_runnable_language(page)
    assert len(expected) == 7
    assert collected_lines(page) == expected
