"""A failed step as a reader needs it: where, the command, why, and only the lines that differ,
each expected line with its page line number (``...`` on the page is not a difference)."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from pages.blocks import Step
from pages.expect import matches, normalise

__all__ = ["Outcome"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened when a step ran."""

    step: Step
    passed: bool
    output: str
    exit_code: int | None
    reason: str = ""
    timed_out: bool = False

    def report(self, path: Path) -> str:
        """A failure as a reader needs it: where, the command, why, and the lines that really differ,
        each expected line with its page line number (``...`` in the page is not a difference)."""
        head = f"{path}:{self.step.line}: $ {self.step.command.splitlines()[0]}"
        if self.passed:
            return f"{head}: ok"
        if self.timed_out:
            tail = normalise(self.output).splitlines()[-5:]
            printed = "\n".join(f"      | {line}" for line in tail) if tail else "      (it printed nothing)"
            return f"{head}\n  {self.reason}; its last output:\n{printed}"
        first = self.step.line + self.step.command.count("\n") + 1  # the page line of the first expected line
        return f"{head}\n  {self.reason}\n" + "\n".join(_diff(self.step.expected, self.output, first))


def _aligned(expected: list[str], actual: list[str]) -> list[str]:
    """``actual`` with each line a page line's pattern matches replaced by that page line, and a run
    of lines a lone ``...`` stands for folded into it, so only real differences remain. A line that
    ``...`` could swallow but that resembles the page's next line is kept: it is the likely culprit."""
    out: list[str] = []
    e = 0
    shown = -1  # the index of the last page `...` already in ``out``
    for line in actual:
        wildcard = e < len(expected) and expected[e] == "..."
        nxt = e + 1 if wildcard else e
        hit = next((j for j in range(nxt, len(expected)) if expected[j] != "..." and matches(expected[j], line)), None)
        resembles = nxt < len(expected) and difflib.SequenceMatcher(None, expected[nxt], line).ratio() >= 0.6
        if hit == nxt or (hit is not None and not wildcard):
            out.extend(x for x in expected[e:hit] if x == "...")  # a wildcard that stood for nothing
            out.append(expected[hit])
            e = hit + 1
        elif wildcard and not resembles and hit is None:
            if shown != e:
                out.append("...")
                shown = e
        elif hit is not None:
            if wildcard and shown != e:
                out.append("...")
            out.append(expected[hit])
            e = hit + 1
        else:
            out.append(line)
    return out


def _diff(expected_text: str, actual_text: str, first_line: int) -> list[str]:
    """`` 12 | line`` equal, ``-12 | line`` only on the page, ``+   | line`` only in the output."""
    expected = normalise(expected_text).splitlines()
    actual = _aligned(expected, normalise(actual_text).splitlines())
    width = len(str(first_line + len(expected)))
    rows: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, expected, actual, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [f"  {first_line + i:>{width}} | {expected[i]}" for i in range(i1, i2)]
            continue
        rows += [f"- {first_line + i:>{width}} | {expected[i]}" for i in range(i1, i2)]
        rows += [f"+ {'':>{width}} | {actual[j]}" for j in range(j1, j2)]
    return rows
