"""Page text before macros render it: front matter, code blocks kept from Jinja, safety labels.

Fences and directives are found by :func:`pages.parse`, the parser ``checks run`` and the
page tests use, so the site shows exactly the blocks and safety classes that are tested; an
unknown safety word is a :class:`~pages.PageError` with the page and line.
"""

from __future__ import annotations

import html
from pathlib import Path

from pages import INCLUDE, Block, PageError, Safety, front_matter, parse

__all__ = ["LABELS", "front_matter", "include_snippets", "prepare", "title"]

LABELS = {
    Safety.READ_ONLY: "Read-only: safe to run at any time.",
    Safety.MUTATING: "Mutating: changes state on the target. Run it when this step says so.",
    Safety.DESTRUCTIVE: "Destructive: stops, deletes or restarts. Be sure before you run it.",
    Safety.PRODUCTION: "Production step: {reason}.",
    Safety.SKIP: "Not run by the test suite: {reason}.",
}


def title(text: str, default: str) -> str:
    """The page's first ``# `` heading."""
    return next((line[2:] for line in text.splitlines() if line.startswith("# ")), default)


def _label(block: Block) -> str:
    text = LABELS[block.safety].format(reason=html.escape(block.skip_reason))
    if block.skipped_here:
        pass  # its reason is what the reader needs (a production-only step)
    elif block.is_fault_block:
        text = f"What you see during the fault · {block.safety.value}."
    elif block.shows_healthy:
        text = f"What a healthy backend prints · {block.safety.value}."
    return f'{{% raw %}}<span class="safety safety-{block.safety.value}">{text}</span>{{% endraw %}}\n'


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def prepare(markdown: str, path: Path, first_line: int = 1) -> str:
    """``markdown`` ready for macros: each block wrapped in ``{% raw %}`` so Jinja leaves its text
    as written (Prometheus' ``{{ $labels }}`` must reach the reader, and the tested text must be the
    published text), and each ``<!-- checks: ... -->`` directive turned into a visible label."""
    lines = markdown.split("\n")
    for block in parse(markdown, path, first_line):
        start, end = block.start - first_line, block.end - first_line
        opening = lines[start]
        lines[start] = f"{_indent(opening)}{{% raw %}}{opening.lstrip()}"
        if end < len(lines):
            lines[end] = lines[end].rstrip() + "{% endraw %}"
        else:  # an unclosed fence runs to the end of the page
            lines[-1] += "{% endraw %}"
        if block.directive.line:
            at = block.directive.line - first_line
            lines[at] = _indent(lines[at]) + _label(block)
    return "\n".join(lines)


def include_snippets(markdown: str, path: Path, docs_dir: Path) -> str:
    """Each ``--8<-- "x.md"`` line of ``markdown`` replaced by ``docs_dir/x.md``, itself made ready
    by :func:`prepare` (so its blocks get their labels and stay out of Jinja's way): one "Before you
    start" for every runbook, labelled like any block. A missing snippet is a :class:`PageError`."""
    out = []
    for number, line in enumerate(markdown.split("\n"), 1):
        match = INCLUDE.match(line)
        if not match:
            out.append(line)
            continue
        snippet = docs_dir / match["name"]
        try:
            text = snippet.read_text(encoding="utf-8")
        except OSError:
            raise PageError(f"{path}:{number}: no snippet {match['name']} under {docs_dir}") from None
        ready = prepare(text.rstrip("\n"), snippet)
        out += [match["indent"] + part if part else part for part in ready.split("\n")]
    return "\n".join(out)
