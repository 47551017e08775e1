"""The runbook template, enforced: front matter, sections in order, runnable diagnostics.

``python -m docsite.lint [PAGE ...]`` prints one line per problem and exits 1 when there is
any; the test suite runs it over every runbook.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

from pages import Document, PageError, read_page

__all__ = ["FRONT_MATTER", "SECTIONS", "lint_runbook", "main"]

FRONT_MATTER = ("alerts", "faults", "severity", "component", "owner", "last_reviewed")
SECTIONS = ("Before you start", "Summary", "Diagnose", "Impact", "Mitigate", "Verify", "Escalate", "Related")
SEVERITIES = ("critical", "warning")
BEFORE_YOU_START = '--8<-- "snippets/before-you-start.md"'  # docs/snippets/: one block for every runbook
_PLACEHOLDER = re.compile(r"\bTODO\b")  # what `make new-runbook` leaves for the author
_ITEM = re.compile(r"^(\d+)\. ")
_STEP_REFERENCE = re.compile(r"\bsteps? (\d+)(?:(?:,| and| or) (\d+))*", re.IGNORECASE)


def lint_runbook(path: Path) -> list[str]:
    """Every way ``path`` breaks the template, as ``path: problem`` lines."""
    text = path.read_text(encoding="utf-8")
    placeholders = [
        f"{path}:{n}: unfilled placeholder: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if _PLACEHOLDER.search(line)
    ]
    try:
        page = read_page(path)
    except PageError as exc:
        return [str(exc)]
    meta = page.meta
    problems = [f"front matter lacks {key}" for key in FRONT_MATTER if key not in meta]
    if "alerts" in meta and not isinstance(meta["alerts"], list):
        problems.append("alerts must be a list of alert names")
    elif meta.get("alerts") == [] and meta.get("symptom") is not True:
        problems.append("no alert names: list its alerts, or mark it `symptom: true`")
    if "faults" in meta and (not isinstance(meta["faults"], list) or not meta["faults"]):
        problems.append("faults must list the faults the page is proven under (tests/gameday)")
    if "severity" in meta and meta["severity"] not in SEVERITIES:
        problems.append(f"severity {meta['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if "last_reviewed" in meta and not isinstance(meta["last_reviewed"], dt.date):
        problems.append(f"last_reviewed {meta['last_reviewed']!r} is not a date (YYYY-MM-DD)")
    found = [h for h in page.sections if h in SECTIONS]
    missing = [s for s in SECTIONS if s not in found]
    if missing:
        problems.append(f"missing section(s) {', '.join(missing)}")
    elif found != list(SECTIONS):
        problems.append(f"sections out of order: {', '.join(found)}; expected {', '.join(SECTIONS)}")
    else:
        start, end = page.sections["Before you start"]
        if BEFORE_YOU_START not in text.splitlines()[start - 1 : end - 1]:
            problems.append(f"Before you start does not include the shared block: add the line {BEFORE_YOU_START}")
    blocks = [b for b in page.blocks if b.runnable]
    runnable_diagnose = [b for b in page.in_section("Diagnose") if b.runnable]
    if not runnable_diagnose:
        problems.append("Diagnose has no runnable block")
    elif all(b.skipped_here for b in runnable_diagnose):
        problems.append("every Diagnose block is skipped; at least one must run in the tests")
    elif not any(b.is_fault_block for b in runnable_diagnose):
        problems.append("Diagnose shows no output under the page's fault: mark such a block `checks: fault`")
    if not blocks:
        problems.append("no runnable block at all")
    return placeholders + _step_problems(path, text, page) + [f"{path}: {problem}" for problem in problems]


def _step_problems(path: Path, text: str, page: Document) -> list[str]:
    """Each section's numbered steps count up by one, and every "step N" in it names one of them (a
    list broken by a badly indented line restarts its numbers; a step added shifts the references)."""
    lines = text.splitlines()
    in_code = {n for b in page.blocks for n in range(b.start, b.end + 1)}
    problems: list[str] = []
    steps: dict[str, list[int]] = {}
    for section, (start, end) in page.sections.items():
        numbered = [(n, int(m[1])) for n in range(start, end) if n not in in_code and (m := _ITEM.match(lines[n - 1]))]
        numbers = steps[section] = [number for _, number in numbered]
        for (n, number), previous in zip(numbered[1:], numbers, strict=False):
            if number != previous + 1:
                problems.append(f"{path}:{n}: step {number} follows step {previous} in {section}; number them in order")
        for n in range(start, end):
            if n in in_code:
                continue
            for match in _STEP_REFERENCE.finditer(lines[n - 1]):
                named = [int(x) for x in re.findall(r"\d+", match[0])]
                # a section without steps of its own (Mitigate, Escalate) refers to Diagnose's
                of = section if numbers else "Diagnose"
                if any(x not in steps.get(of, []) for x in named):
                    problems.append(
                        f"{path}:{n}: '{match[0]}' names no step of {of} (its steps: "
                        f"{', '.join(map(str, steps.get(of, []))) or 'none'})"
                    )
    return problems


def main(argv: list[str] | None = None) -> int:
    pages = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted(
        p for p in Path("runbooks").glob("*.md") if p.name != "index.md"
    )
    problems = [line for page in pages for line in lint_runbook(page)]
    print("\n".join(problems) if problems else f"{len(pages)} runbooks follow the template")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
