"""Sybil over the site's pages: every runnable block is an example run against a live backend.

Blocks are found by :func:`checks.console.parse`, the same parser ``checks run`` uses, so what CI
proves is what the on-call engineer runs. Languages:

* ``console``: each ``$`` command runs in bash, its output compared with the page (``...`` wildcard);
* ``bash``, ``sh``, ``shell``: the whole block runs as one bash script and must exit 0;
* ``python``, ``py``: executed in the page's namespace, with the backend's variables in ``os.environ``.

A ``<!-- checks: skip: REASON -->`` directive skips a block with its reason; Sybil's
``<!-- clear-namespace -->`` empties a page's namespace.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import ClearNamespaceParser

from checks.console import PYTHONS, RUNNABLE_CONSOLE, SHELLS, Block, Safety, environment, parse, run_step

__all__ = ["BLOCK_TIMEOUT", "page_sybil", "runnable_blocks"]

REPO = Path(__file__).resolve().parent.parent
BLOCK_TIMEOUT = 60.0
FIXTURE = "live_backend"


def runnable_blocks(path: Path) -> list[Block]:
    """The blocks of a page that must be run, by language."""
    return [b for b in parse(path.read_text(encoding="utf-8"), path) if b.runnable]


def _env(example: Example) -> dict[str, str]:
    live = example.namespace[FIXTURE]
    return environment(live.url, live.data_dir)


def _skip_if_directed(block: Block) -> None:
    if block.safety is Safety.SKIP:
        pytest.skip(f"checks: skip: {block.skip_reason}")
    if block.faults is not None:
        pytest.skip("shows the output during the page's fault: proven by its game day (tests/gameday)")


def _evaluate_console(example: Example) -> None:
    block: Block = example.parsed
    _skip_if_directed(block)
    if not block.steps:
        raise AssertionError(f"{block.path}:{block.start}: console block without a `$ ` command")
    env = _env(example)
    failures = [o.report(block.path) for o in (run_step(s, env, BLOCK_TIMEOUT, REPO) for s in block.steps)
                if not o.passed]
    if failures:
        raise AssertionError("\n\n".join(failures))


def _evaluate_shell(example: Example) -> None:
    block: Block = example.parsed
    _skip_if_directed(block)
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block.text], env=_env(example), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BLOCK_TIMEOUT, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{block.path}:{block.start}: script exited {done.returncode}:\n"
                             f"{done.stdout.decode(errors='replace')[-2000:]}")


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
        exec(code, example.namespace)  # noqa: S102 - running the page's code is the point


EVALUATORS = {RUNNABLE_CONSOLE: _evaluate_console, **dict.fromkeys(SHELLS, _evaluate_shell),
              **dict.fromkeys(PYTHONS, _evaluate_python)}


def _offsets(text: str) -> list[int]:
    starts, total = [], 0
    for line in text.splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    starts.append(total)
    return starts


def parse_page(document: Document) -> Iterator[Region]:
    """Sybil parser: one region per runnable block, spanning its fences."""
    starts = _offsets(document.text)
    for block in parse(document.text, Path(document.path)):
        if block.language in EVALUATORS:
            yield Region(starts[block.start - 1], starts[min(block.end, len(starts) - 1)], block,
                         EVALUATORS[block.language])


def page_sybil(**kwargs: Any) -> Sybil:
    """The Sybil that collects docs/ and runbooks/ pages with the live backend fixture."""
    return Sybil(parsers=[parse_page, ClearNamespaceParser()], patterns=["docs/*.md", "docs/*/*.md", "runbooks/*.md", "runbooks/*/*.md"],
                 fixtures=[FIXTURE], path=str(REPO), **kwargs)
