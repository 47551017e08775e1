"""The expected-output language of a ``$`` command on a page.

The lines under a command are what it must print, stdout and stderr together, compared after
trailing spaces and surrounding blank lines are dropped. ``...`` matches any text, across lines
too; a line that is only ``...`` stands for any number of lines, none included, so a page can show
a header "and whatever follows it".
"""

from __future__ import annotations

import re

__all__ = ["matches", "normalise"]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` standing for any text (lines included).

    A line that is only ``...`` stands for any number of lines, none included, so a page can show
    a header "and whatever follows it".
    """
    lines = normalise(expected).split("\n")
    pattern = ""
    for i, line in enumerate(lines):
        if i:
            pattern += r"\n?" if "..." in (line, lines[i - 1]) else r"\n"
        pattern += ".*?".join(re.escape(part) for part in line.split("..."))
    return re.fullmatch(r"(?s)" + pattern, normalise(actual)) is not None
