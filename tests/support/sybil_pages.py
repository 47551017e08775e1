"""Sybil over the site's pages: every runnable block is an example run against a live backend.

Blocks are found by :func:`pages.parse`, the same parser ``checks run`` uses, so what CI
proves is what the on-call engineer runs. Languages:

* ``console``: each ``$`` command runs in bash, its output compared with the page (``...`` wildcard),
  as its own example, so a failure's test id names the command's line and its report is short (the
  command, why, and only the lines that differ, with their page line numbers);
* ``bash``, ``sh``, ``shell``: the whole block runs as one bash script and must exit 0;
* ``python``, ``py``: executed in the page's namespace, with the backend's variables in ``os.environ``.

A ``<!-- checks: skip: REASON -->`` directive skips a block with its reason; Sybil's
``<!-- clear-namespace -->`` empties a page's namespace. Each command may run for
:data:`pages.DEFAULT_TIMEOUT` seconds, or its block's ``timeout=N``; on timeout everything
it started is killed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import ClearNamespaceParser

from pages import (
    CONSOLE,
    DEFAULT_TIMEOUT,
    PYTHONS,
    SHELLS,
    Block,
    Step,
    environment,
    parse,
    read_page,
    run_bash,
    run_step,
)
from tests.support import REPO

__all__ = ["fleet_pages", "fleet_sybil", "page_sybil", "runnable_blocks"]

FIXTURE = "live_backend"
# A page of several instances (front matter ``component: fleet``) runs against an instance that reads a
# real message bus, whose address its blocks take from BACKEND_BUS_URL
FLEET_FIXTURE, BUS_FIXTURE = "live_fleet_instance", "message_bus_url"


def runnable_blocks(path: Path) -> list[Block]:
    """The blocks of a page that must be run, by language."""
    return [b for b in parse(path.read_text(encoding="utf-8"), path) if b.runnable]


def _env(example: Example) -> dict[str, str]:
    fleet = FLEET_FIXTURE in example.namespace
    live = example.namespace[FLEET_FIXTURE if fleet else FIXTURE]
    bus = {"BACKEND_BUS_URL": example.namespace[BUS_FIXTURE]} if fleet else {}
    return {**environment(live.url, live.data_dir), **bus}


def _skip_if_directed(block: Block) -> None:
    if block.skipped_here:
        pytest.skip(f"checks: {block.safety.value}: {block.skip_reason}")
    if block.is_fault_block:
        pytest.skip("shows the output during the page's fault: proven by its game day (tests/gameday)")


def _evaluate_step(example: Example) -> str | None:
    """One ``$`` command; a failure is returned, not raised, so pytest shows only its report."""
    block, step = example.parsed
    _skip_if_directed(block)
    outcome = run_step(step, _env(example), block.timeout or DEFAULT_TIMEOUT, REPO)
    return None if outcome.passed else outcome.report(block.path)


def _evaluate_console(example: Example) -> str | None:
    """A console block run as a whole: one that is skipped, or has no command (an error)."""
    block: Block = example.parsed
    _skip_if_directed(block)
    return f"{block.path}:{block.start}: console block without a `$ ` command"


def _evaluate_shell(example: Example) -> str | None:
    block: Block = example.parsed
    _skip_if_directed(block)
    timeout = block.timeout or DEFAULT_TIMEOUT
    code, output = run_bash(block.text, _env(example), timeout, REPO)
    if code is None:
        return (
            f"{block.path}:{block.start}: TIMEOUT after {timeout:g} s (the script and everything it started "
            f"were killed):\n{output[-2000:]}"
        )
    if code != 0:
        return f"{block.path}:{block.start}: script exited {code}:\n{output[-2000:]}"
    return None


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set the backend's variables for in-process code, and put the old environment back."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _evaluate_python(example: Example) -> None:
    block: Block = example.parsed
    _skip_if_directed(block)
    env = _env(example)
    wanted = {k: env[k] for k in ("BACKEND_URL", "BACKEND_WS_URL", "BACKEND_DATA_DIR") if k in env}
    code = compile("\n" * block.start + block.text, str(block.path), "exec")  # line numbers match the page
    with _environ(wanted):
        exec(code, example.namespace)


EVALUATORS = {
    CONSOLE: _evaluate_console,
    **dict.fromkeys(SHELLS, _evaluate_shell),
    **dict.fromkeys(PYTHONS, _evaluate_python),
}


def _offsets(text: str) -> list[int]:
    starts, total = [], 0
    for line in text.splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    starts.append(total)
    return starts


def _step_regions(block: Block, starts: list[int]) -> Iterator[Region]:
    """One region per command: from its ``$`` line to the next command, or the closing fence."""
    steps: list[Step] = block.steps
    for k, step in enumerate(steps):
        end = steps[k + 1].line if k + 1 < len(steps) else block.end
        yield Region(starts[step.line - 1], starts[end - 1], (block, step), _evaluate_step)


def parse_page(document: Document) -> Iterator[Region]:
    """Sybil parser: one region per console command, one per other runnable block; a skipped or
    empty console block is one region."""
    starts = _offsets(document.text)
    for block in parse(document.text, Path(document.path)):
        if block.language == CONSOLE and block.steps and not block.skipped_here and not block.is_fault_block:
            yield from _step_regions(block, starts)
        elif block.language in EVALUATORS:
            yield Region(
                starts[block.start - 1], starts[min(block.end, len(starts) - 1)], block, EVALUATORS[block.language]
            )


def fleet_pages() -> list[str]:
    """The runbooks of several instances (``component: fleet``), relative to the checkout."""
    return sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "runbooks").glob("*.md")
        if read_page(p).meta.get("component") == "fleet"
    )


def page_sybil() -> Sybil:
    """The Sybil that collects docs/ and runbooks/ pages with the live backend fixture, but the fleet's."""
    return Sybil(
        parsers=[parse_page, ClearNamespaceParser()],
        patterns=["docs/*.md", "docs/*/*.md", "runbooks/*.md", "runbooks/*/*.md"],
        excludes=fleet_pages(),
        fixtures=[FIXTURE],
        path=str(REPO),
        name="pages",
    )


def fleet_sybil() -> Sybil:
    """The Sybil of the fleet's runbooks: an instance that reads a real message bus, and the bus's address."""
    return Sybil(
        parsers=[parse_page, ClearNamespaceParser()],
        patterns=fleet_pages(),
        fixtures=[FLEET_FIXTURE, BUS_FIXTURE],
        path=str(REPO),
        name="fleet",
    )
