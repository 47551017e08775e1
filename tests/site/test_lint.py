"""The runbook template lint, over the real runbooks and over pages that break it."""

from __future__ import annotations

from pathlib import Path

import pytest

from docsite.lint import lint_runbook

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted(p for p in (REPO / "runbooks").glob("*.md") if p.name != "index.md")

GOOD = """---
alerts: [X]
faults: [x-fault]
severity: warning
component: cache
owner: oncall
last_reviewed: 2026-01-02
---

# Title

## Before you start

--8<-- "snippets/before-you-start.md"

## Summary
s
## Diagnose

<!-- checks: fault -->
```console
$ true
```

## Impact
i
## Mitigate
m
## Verify
v
## Escalate
e
## Related
r
"""


def test_there_are_at_least_ten_runbooks_and_each_follows_the_template() -> None:
    """Assert the handbook has 10+ runbooks and the lint finds nothing wrong in any."""
    assert len(RUNBOOKS) >= 10
    problems = [line for page in RUNBOOKS for line in lint_runbook(page)]
    assert problems == []


BROKEN = [
    ("no owner", GOOD.replace("owner: oncall\n", ""), "front matter lacks owner"),
    ("bad date", GOOD.replace("2026-01-02", "last tuesday"), "last_reviewed 'last tuesday' is not a date"),
    ("no alert", GOOD.replace("alerts: [X]", "alerts: []"), "mark it `symptom: true`"),
    ("bad severity", GOOD.replace("severity: warning", "severity: high"), "severity 'high' is not one of"),
    ("no escalate", GOOD.replace("## Escalate\n", ""), "missing section(s) Escalate"),
    (
        "order",
        GOOD.replace("## Summary\ns\n## Diagnose", "## Diagnose\nx\n## Summary\ns\n## Diagnose"),
        "sections out of order",
    ),
    (
        "all skipped",
        GOOD.replace("```console\n$ true", "<!-- checks: skip: prod only -->\n```console\n$ true"),
        "every Diagnose block is skipped",
    ),
    ("no faults", GOOD.replace("faults: [x-fault]\n", ""), "front matter lacks faults"),
    (
        "no fault output",
        GOOD.replace("<!-- checks: fault -->\n", ""),
        "Diagnose shows no output under the page's fault",
    ),
    (
        "no diagnostics",
        GOOD.replace("```console\n$ true\n```\n", "Look at the dashboard.\n"),
        "Diagnose has no runnable block",
    ),
    (
        "own before-you-start",
        GOOD.replace('--8<-- "snippets/before-you-start.md"', "export BACKEND_URL=http://somewhere"),
        "Before you start does not include the shared block",
    ),
    (
        "steps restart",
        GOOD.replace("## Diagnose\n", "## Diagnose\n\n1. one\n1. again\n2. two\n"),
        "step 1 follows step 1 in Diagnose",
    ),
    (
        "a step that is not there",
        GOOD.replace("## Diagnose\n", "## Diagnose\n\n0. one\n1. two; then go to step 2\n"),
        "'step 2' names no step of Diagnose (its steps: 0, 1)",
    ),
    (
        "Mitigate names a Diagnose step that is not there",
        GOOD.replace("## Diagnose\n", "## Diagnose\n\n0. one\n1. two\n").replace("\nm\n", "\nthe part from step 3\n"),
        "'step 3' names no step of Diagnose",
    ),
    (
        "skip without reason",
        GOOD.replace("```console\n$ true", "<!-- checks: skip -->\n```console\n$ true"),
        "needs a reason",
    ),
]


def test_a_page_that_follows_the_template_passes(tmp_path: Path) -> None:
    """Assert the minimal good page is clean, so each broken variant fails for its own reason."""
    page = tmp_path / "good.md"
    page.write_text(GOOD)
    assert lint_runbook(page) == []


@pytest.mark.parametrize(("case", "text", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_template_break_is_reported(tmp_path: Path, case: str, text: str, problem: str) -> None:
    """Assert each way of breaking the template is reported, naming the page."""
    page = tmp_path / "page.md"
    page.write_text(text)
    problems = lint_runbook(page)
    assert any(problem in line and str(page) in line for line in problems), problems
