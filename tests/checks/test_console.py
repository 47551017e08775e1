"""Unit tests of the console-block format shared by ``checks run`` and the Sybil suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checks.console import Safety, matches, parse, run_step
from checks.errors import PageError
from tests.pages import REPO

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
        ("<!-- checks: sometimes -->", "unknown directive 'checks: sometimes'"),
        ("<!-- checks: mutate -->", "did you mean `checks: mutating`"),
        ("<!-- check: mutating -->", "is not a directive; did you mean `<!-- checks: mutating -->`"),
        ("<!-- chekcs: destructive -->", "did you mean `<!-- checks: destructive -->`"),
    ],
)
def test_bad_directives_are_rejected_with_the_line(directive: str, message: str) -> None:
    """Assert a skip without a reason, or an unknown directive, is an error naming page and line."""
    with pytest.raises(PageError, match=rf"p.md:1: .*{message}"):
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
    """Assert a hung command is reported as TIMEOUT (no diff), its block's `timeout N` is used, and
    nothing it started (a background sleep, a sleep in the foreground) survives it."""
    marker = f"sleep {os.getpid() % 1000 + 1000}.{os.getpid()}"
    page = f"<!-- checks: read-only, timeout 1 -->\n```console\n$ {marker} & {marker}\nnever\n```\n"
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
        "import sys\nsys.path.insert(0, %r)\nfrom tests.pages import page_sybil\n"
        "from sybil import Sybil\nimport pytest\n"
        "@pytest.fixture(scope='session')\ndef live_backend():\n"
        "    class L: url = 'http://127.0.0.1:9'; data_dir = None\n    return L()\n"
        "pytest_collect_file = Sybil(parsers=page_sybil().parsers, patterns=['*.md'], fixtures=['live_backend'])"
        ".pytest()\n" % str(REPO)
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
