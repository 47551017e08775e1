"""Fenced blocks and the ``$`` commands in them: the one reading of a page's code that the site,
the lint, Sybil, the game days and ``checks run`` share.

A line starting with ``$ `` is a command (a trailing ``\\`` continues it on the next line); the
lines up to the next command are its expected output (:mod:`pages.expect`). A last expected line
``[exit N]`` expects that exit status (default 0).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from pages.directives import Directive, Safety, State

__all__ = ["CONSOLE", "PYTHONS", "RUNNABLE", "SHELLS", "Block", "Step", "steps_of"]

CONSOLE = "console"  # ``checks run`` and the game days run console blocks; the page tests run every RUNNABLE
SHELLS = frozenset({"bash", "sh", "shell"})
PYTHONS = frozenset({"python", "py"})
RUNNABLE = frozenset({CONSOLE}) | SHELLS | PYTHONS
_EXIT = re.compile(r"^\[exit (\d+)\]$")


@dataclasses.dataclass(frozen=True)
class Step:
    """One ``$`` command and what it must print."""

    command: str
    expected: str
    exit_code: int
    line: int  # 1-based page line of the ``$``


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced block: where it is (section and lines), its language, its directive and its text."""

    path: Path
    language: str
    info: str
    start: int  # 1-based line of the opening fence
    end: int  # 1-based line of the closing fence
    text: str
    section: str = ""  # the ``## `` heading it sits under ("" before the first)
    directive: Directive = Directive()

    @property
    def safety(self) -> Safety:
        return self.directive.safety

    @property
    def skip_reason(self) -> str:
        return self.directive.reason

    @property
    def skipped_here(self) -> bool:
        """Not run by the plain page run nor a lab game day: a ``skip`` block, or a ``production`` block
        (which only the rehearsal host runs)."""
        return self.directive.safety in (Safety.SKIP, Safety.PRODUCTION)

    @property
    def shows_healthy(self) -> bool:
        return self.directive.state is State.HEALTHY

    @property
    def is_fault_block(self) -> bool:
        return self.directive.state is State.FAULT

    @property
    def timeout(self) -> float | None:
        return self.directive.timeout

    def shows_fault(self, fault: str) -> bool:
        """Whether this block's output is the one seen during ``fault``."""
        return self.is_fault_block and (not self.directive.faults or fault in self.directive.faults)

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE

    @property
    def steps(self) -> list[Step]:
        return steps_of(self.text, self.start + 1)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.start}"


def steps_of(text: str, first_line: int) -> list[Step]:
    """The ``$`` commands of a console block's text, ``first_line`` being the page line of its first line."""
    steps: list[Step] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        line_no = first_line + i
        command = lines[i][2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command + "\n" + lines[i]
        i += 1
        expected: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        while expected and not expected[-1].strip():
            expected.pop()
        exit_code = 0
        if expected and (m := _EXIT.match(expected[-1].strip())):
            exit_code = int(m.group(1))
            expected.pop()
        steps.append(Step(command, "\n".join(expected), exit_code, line_no))
    return steps
