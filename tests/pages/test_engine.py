"""Unit tests of the page engine (``pages``): blocks, directives, sections, expected output, reports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pages import PageError, Safety, State, matches, page_of, parse, run_step
from tests.support import REPO

PAGE = """\
# Title

1. Look:

    ```console
    $ echo hello
    hello
    $ printf 'a\\nb\\nc\\n'
    a
    ...
    ```

<!-- checks: mutating -->
```console
$ echo one \\
    two
one two
```

<!-- checks: skip: needs production credentials -->
```console
$ false
```

```py
x = 1
```
"""


def test_blocks_steps_and_directives_are_parsed() -> None:
    """Assert indented blocks, continuation lines, languages and directives come out as written."""
    blocks = parse(PAGE, Path("p.md"))
    assert [b.language for b in blocks] == ["console", "console", "console", "py"]
    first = blocks[0]
    assert first.start == 5 and first.safety is Safety.READ_ONLY
    assert [(s.command, s.expected, s.line) for s in first.steps] == [
        ("echo hello", "hello", 6),
        ("printf 'a\\nb\\nc\\n'", "a\n...", 8),
    ]
    assert blocks[1].safety is Safety.MUTATING and blocks[1].steps[0].command == "echo one \\\n    two"
    assert blocks[2].safety is Safety.SKIP and blocks[2].skip_reason == "needs production credentials"


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("<!-- checks: skip -->", "needs a reason"),
        ("<!-- checks: production -->", "'checks: production' needs a reason"),
        ("<!-- checks: production skip: both -->", "one safety word per block"),
        ("<!-- checks: sometimes -->", "unknown directive word 'sometimes'"),
        ("<!-- checks: read-only, fault -->", "take no commas now; write `<!-- checks: fault -->`"),
        ("<!-- checks: destructive, fault a b -->", "write `<!-- checks: destructive faults=a,b -->`"),
        ("<!-- checks: read-only, timeout 120 -->", "write `<!-- checks: timeout=120 -->`"),
        ("<!-- checks: fault healthy -->", "not both"),
        ("<!-- checks: mutating destructive -->", "one safety word per block"),
        ("<!-- checks: faults=Hung_Server -->", "kebab-case"),
        ("<!-- checks: timeout=soon -->", "timeout= takes seconds"),
        ("<!-- checks: retries=3 -->", "unknown option 'retries='"),
        ("<!-- checks: mutating: because -->", "only a skipped or production block takes a reason"),
        ("<!-- checks: mutate -->", "did you mean `checks: mutating`?"),
        ("<!-- check: mutating -->", "is not a directive; did you mean `<!-- checks: mutating -->`"),
        ("<!-- chekcs: destructive -->", "did you mean `<!-- checks: destructive -->`"),
    ],
)
def test_bad_directives_are_rejected_with_the_line(directive: str, message: str) -> None:
    """Assert a skip without a reason, or an unknown directive, is an error naming page and line."""
    with pytest.raises(PageError, match=rf"p.md:1: .*{re.escape(message)}"):
        parse(f"{directive}\n```console\n$ true\n```\n", Path("p.md"))


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("hello", "hello\n", True),
        ("hello", "hello world", False),
        ('{"status":"ready",...}', '{"status":"ready","failing":[]}', True),
        ("a\n...\nd", "a\nb\nc\nd", True),
        ("...ok", "all checks ok", True),
        ("a.b", "axb", False),
        ("", "", True),
        ("x", "", False),
        ("# TYPE c counter\n...", "# TYPE c counter", True),
        ("# TYPE c counter\n...", '# TYPE c counter\nc_total{k="a"} 1.0', True),
        ("...\nlast", "last", True),
        ("a\n...\nb", "a\nx\nc", False),
    ],
)
def test_ellipsis_matches_any_text_and_nothing_else_is_loose(expected: str, actual: str, ok: bool) -> None:
    """Assert '...' is the only wildcard and regex characters are literal."""
    assert matches(expected, actual) is ok


def test_run_step_reports_exit_status_and_diff(tmp_path: Path) -> None:
    """Assert a wrong output and a wrong exit status both fail with a readable reason and diff."""
    steps = parse("```console\n$ echo actual\nexpected\n$ exit 3\n[exit 3]\n$ false\n```\n", Path("p.md"))[0].steps
    env = dict(os.environ)
    wrong, exit3, failing = (run_step(s, env, 5, tmp_path) for s in steps)
    assert not wrong.passed and "- 3 | expected" in wrong.report(Path("p.md"))
    assert "+   | actual" in wrong.report(Path("p.md"))
    assert exit3.passed
    assert not failing.passed and failing.reason == "exit status 1, page expects 0"


def test_a_command_without_a_space_after_the_dollar_is_an_error() -> None:
    """Assert `$df -h` is refused with its line instead of silently becoming expected output."""
    with pytest.raises(PageError, match=r"p.md:3: '\$df -h' starts with '\$' but no space; write '\$ df -h'"):
        parse("text\n```console\n$df -h\n```\n", Path("p.md"))


def test_an_ordinary_comment_above_a_fence_is_left_alone() -> None:
    """Assert a comment that is no near-directive (a note to authors) does not stop the page."""
    assert parse("<!-- TODO: shorter -->\n```console\n$ true\n```\n", Path("p.md"))[0].safety is Safety.READ_ONLY


def test_the_diff_marks_only_lines_that_really_differ_with_page_line_numbers(tmp_path: Path) -> None:
    """Assert lines matched through `...` (inside a line, or a lone `...` for several lines) are not
    marked, the one wrong line is, and every page line carries its number."""
    page = (
        "text\n```console\n$ printf 'head\\nt=1.25 ms\\nx\\ny\\nstatus: FAIL\\nend\\n'\n"
        "head\nt=... ms\n...\nstatus: ok\nend\n```\n"
    )
    outcome = run_step(parse(page, Path("p.md"))[0].steps[0], dict(os.environ), 5, tmp_path)
    rows = outcome.report(Path("p.md")).splitlines()[2:]
    assert rows == [
        "  4 | head",
        "  5 | t=... ms",
        "  6 | ...",
        "- 7 | status: ok",
        "+   | status: FAIL",
        "  8 | end",
    ], rows


def test_a_timed_out_command_leaves_no_process_and_says_timeout(tmp_path: Path) -> None:
    """Assert a hung command is reported as TIMEOUT (no diff), its block's `timeout=N` is used, and
    nothing it started (a background sleep, a sleep in the foreground) survives it."""
    marker = f"sleep {os.getpid() % 1000 + 1000}.{os.getpid()}"
    page = f"<!-- checks: timeout=1 -->\n```console\n$ {marker} & {marker}\nnever\n```\n"
    block = parse(page, Path("p.md"))[0]
    assert block.timeout == 1.0
    outcome = run_step(block.steps[0], dict(os.environ), block.timeout, tmp_path)
    report = outcome.report(Path("p.md"))
    assert not outcome.passed and outcome.exit_code is None and "TIMEOUT after 1 s" in report
    assert "never" not in report, "a timeout is not a diff"
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False).stdout.split()
    assert left == [], f"processes survived the timed-out block: {left}"


def test_a_page_example_failure_is_reported_without_framework_frames(tmp_path: Path) -> None:
    """Assert pytest's report of a failing page command is the command, why and the diff: no
    traceback from Sybil, and the test id names the command's line, not the fence's."""
    (tmp_path / "page.md").write_text("# P\n\n```console\n$ echo one\none\n$ echo two\nthree\n```\n")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom tests.support.sybil_pages import page_sybil\n"
        "from sybil import Sybil\nimport pytest\n"
        "@pytest.fixture(scope='session')\ndef live_backend():\n"
        "    class L: url = 'http://127.0.0.1:9'; data_dir = None\n    return L()\n"
        "pytest_collect_file = Sybil(parsers=page_sybil().parsers, patterns=['*.md'], fixtures=['live_backend'])"
        ".pytest()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "page.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 1 and "1 failed, 1 passed" in out, out
    assert "page.md::line:6,column:1" in out, out
    assert "- 7 | three" in out and "+   | two" in out, out
    assert "sybil/" not in out and "Traceback" not in out, out


@pytest.mark.parametrize(
    ("directive", "safety", "state", "faults", "timeout"),
    [
        ("", Safety.READ_ONLY, State.ANY, (), None),
        ("<!-- checks: fault -->", Safety.READ_ONLY, State.FAULT, (), None),
        ("<!-- checks: healthy -->", Safety.READ_ONLY, State.HEALTHY, (), None),
        (
            "<!-- checks: destructive faults=hung-server,crash-loop -->",
            Safety.DESTRUCTIVE,
            State.FAULT,
            ("hung-server", "crash-loop"),
            None,
        ),
        ("<!-- checks: mutating healthy timeout=120 -->", Safety.MUTATING, State.HEALTHY, (), 120.0),
        (
            "<!-- checks: skip faults=partition: changes routing on the balancer -->",
            Safety.SKIP,
            State.FAULT,
            ("partition",),
            None,
        ),
    ],
)
def test_directives_read_as_words_and_named_options(
    directive: str, safety: Safety, state: State, faults: tuple[str, ...], timeout: float | None
) -> None:
    """Assert each directive form means what the authoring guide says, the unmarked default included."""
    block = parse(f"{directive}\n```console\n$ true\n```\n", Path("p.md"))[0]
    assert (block.safety, block.directive.state, block.directive.faults, block.timeout) == (
        safety,
        state,
        faults,
        timeout,
    )
    assert block.shows_fault("partition") is (state is State.FAULT and (not faults or "partition" in faults))


def test_sections_are_found_outside_fences_and_every_block_knows_its_own() -> None:
    """Assert a `## ` line inside a code block is not a section, and blocks carry section and line."""
    text = "# T\n\n## Diagnose\n\n```sh\ncat <<EOF\n## Mitigate\nEOF\n```\n\n## Verify\n\n```console\n$ true\n```\n"
    page = page_of(text, Path("p.md"))
    assert page.sections == {"Diagnose": (3, 11), "Verify": (11, 16)}
    assert [(b.section, b.start) for b in page.blocks] == [("Diagnose", 5), ("Verify", 13)]


def test_a_production_block_is_skipped_here_and_keeps_its_faults() -> None:
    """Assert `production faults=x: why` is a fault block of x that the page run and the lab skip
    (the rehearsal host runs it), with its reason; an unmarked block is not skipped."""
    page = (
        "<!-- checks: production faults=crash-loop: restarts the service -->\n"
        "```console\n$ sudo systemctl restart backend\n```\n"
    )
    (block,) = parse(page + "\n```console\n$ true\n```\n", Path("p.md"))[:1]
    assert block.safety is Safety.PRODUCTION and block.skipped_here and block.skip_reason == "restarts the service"
    assert block.shows_fault("crash-loop") and not block.shows_fault("hung-server")
    assert not parse("```console\n$ true\n```\n", Path("p.md"))[0].skipped_here
