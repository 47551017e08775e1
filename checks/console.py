"""Console blocks on pages: find them, run them, compare what they print.

The format (shared by ``checks run`` and the Sybil suite, which imports this module)::

    <!-- checks: mutating -->            optional directive on the line before the fence:
    ```console                           read-only (default), mutating, destructive,
    $ curl -fsS "$BACKEND_URL/ready"     or skip: <reason>
    {"status":"ready",...}
    ```

``<!-- checks: read-only, fault -->`` marks a block whose output is what the reader sees during the
page's fault (front matter ``faults:``); ``fault NAME ...`` narrows it to those faults. Such a block
runs in the page's game day, under the real fault, and not on the healthy backend.
``<!-- checks: read-only, healthy -->`` marks the opposite: an output only a healthy backend gives
(a window that has cleared), run on the healthy backend and not in a game day.

A line starting with ``$ `` is a command (a trailing ``\\`` continues it on the next line); the
lines up to the next command are its expected output, where ``...`` matches any text, across
lines too. A last expected line ``[exit N]`` expects that exit status (default 0). Each command
runs in ``bash`` with ``set -euo pipefail``; stdout and stderr are compared together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from checks.errors import PageError
from checks.thresholds import SAFE_LOADER
from checks.urls import ws_url_of

__all__ = [
    "DEFAULT_TIMEOUT",
    "PYTHONS",
    "RUNNABLE",
    "RUNNABLE_CONSOLE",
    "SHELLS",
    "Block",
    "Outcome",
    "Safety",
    "Step",
    "environment",
    "front_matter",
    "matches",
    "parse",
    "parse_file",
    "run_bash",
    "run_step",
]

# The languages whose blocks are run: ``checks run`` runs console blocks; the page tests run all.
RUNNABLE_CONSOLE = "console"
SHELLS = frozenset({"bash", "sh", "shell"})
PYTHONS = frozenset({"python", "py"})
RUNNABLE = frozenset({RUNNABLE_CONSOLE}) | SHELLS | PYTHONS
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(
    r"^\s*<!--\s*checks:\s*(?P<word>[a-z-]+)(?:\s*,\s*(?P<state>fault|healthy)"
    r"(?P<faults>(?:\s+(?!timeout\b)[a-z0-9-]+)*))?"
    r"(?:\s*,\s*timeout\s+(?P<timeout>\d+(?:\.\d+)?)\s*s?)?"
    r"\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$"
)
DEFAULT_TIMEOUT = 60.0  # seconds a command may run; a directive's ``timeout N`` changes it for its block
_EXIT = re.compile(r"^\[exit (\d+)\]$")
# anything that looks like it meant to be a directive: an HTML comment opening with a word near "checks"
_NEAR_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<prefix>[a-z]+)\s*:?\s*(?P<word>[a-z-]+)?", re.IGNORECASE)
_SQUASHED_COMMAND = re.compile(r"^\$[^\s$]")


class Safety(enum.Enum):
    """What running a block does to the target."""

    READ_ONLY = "read-only"
    MUTATING = "mutating"
    DESTRUCTIVE = "destructive"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True)
class Step:
    """One ``$`` command and what it must print."""

    command: str
    expected: str
    exit_code: int
    line: int


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced block: its language, its safety class, where it is, its text and its steps."""

    path: Path
    language: str
    info: str
    start: int  # 1-based line of the opening fence
    end: int  # 1-based line of the closing fence
    text: str
    safety: Safety = Safety.READ_ONLY
    skip_reason: str = ""
    directive: int = 0  # 1-based line of its ``<!-- checks: ... -->`` directive; 0 when it has none
    faults: tuple[str, ...] | None = None  # None: not a fault block; (): every fault of the page; else those
    healthy: bool = False  # only a healthy backend prints this (``checks: ..., healthy``)
    timeout: float | None = None  # seconds each command may run (``checks: ..., timeout N``); None: the caller's

    def shows_fault(self, fault: str) -> bool:
        """Whether this block's output is the one seen during ``fault``."""
        return self.faults is not None and (not self.faults or fault in self.faults)

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE

    @property
    def steps(self) -> list[Step]:
        return _steps(self.text, self.start + 1)


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
            tail = _normalise(self.output).splitlines()[-5:]
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
    expected = _normalise(expected_text).splitlines()
    actual = _aligned(expected, _normalise(actual_text).splitlines())
    width = len(str(first_line + len(expected)))
    rows: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, expected, actual, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [f"  {first_line + i:>{width}} | {expected[i]}" for i in range(i1, i2)]
            continue
        rows += [f"- {first_line + i:>{width}} | {expected[i]}" for i in range(i1, i2)]
        rows += [f"+ {'':>{width}} | {actual[j]}" for j in range(j1, j2)]
    return rows


def front_matter(text: str) -> dict[str, Any]:
    """The YAML between the leading ``---`` lines of a page (empty when there is none)."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    data = yaml.load(text[4:end], Loader=SAFE_LOADER) if end != -1 else None
    return data if isinstance(data, dict) else {}


def parse_file(path: Path) -> list[Block]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PageError(f"{path}: no such page; give a Markdown file, e.g. runbooks/backend-down.md") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PageError(f"{path}: cannot read: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path, first_line: int = 1) -> list[Block]:
    """Every fenced block of a Markdown text, with the directive that precedes it.

    ``first_line`` is the page line ``text`` starts on (after front matter the site has removed),
    so every line number, in blocks and in errors, is the page's own.
    """
    lines = text.splitlines()
    offset = first_line - 1
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = "\n".join(_dedent(line, indent) for line in lines[i + 1 : j])
        safety, reason, directive, faults, timeout = _directive(lines, i, path, offset)
        language = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        if language == RUNNABLE_CONSOLE:
            _refuse_squashed(body.splitlines(), offset + i + 2, path)
        healthy = faults == ("healthy",)
        blocks.append(
            Block(
                path,
                language,
                info,
                offset + i + 1,
                offset + j + 1,
                body,
                safety,
                reason,
                offset + directive if directive else 0,
                None if healthy else faults,
                healthy,
                timeout,
            )
        )
        i = j + 1
    return blocks


def _dedent(line: str, indent: str) -> str:
    return line[len(indent) :] if line.startswith(indent) else line.lstrip()


def _directive(
    lines: list[str], fence_index: int, path: Path, offset: int
) -> tuple[Safety, str, int, tuple[str, ...] | None, float | None]:
    """The safety class, skip reason, 1-based line, fault names and timeout of the directive before a fence."""
    k = fence_index - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    match = _DIRECTIVE.match(lines[k]) if k >= 0 else None
    where = f"{path}:{offset + k + 1}"
    if not match:
        _refuse_misspelt(lines[k] if k >= 0 else "", where)
        return Safety.READ_ONLY, "", 0, None, None
    try:
        safety = Safety(match["word"])
    except ValueError:
        words = ", ".join(s.value for s in Safety)
        close = difflib.get_close_matches(match["word"], [s.value for s in Safety], n=1)
        hint = f"; did you mean `checks: {close[0]}`?" if close else ""
        raise PageError(f"{where}: unknown directive 'checks: {match['word']}'; use one of {words}{hint}") from None
    reason = (match["reason"] or "").strip()
    if safety is Safety.SKIP and not reason:
        raise PageError(f"{where}: 'checks: skip' needs a reason: <!-- checks: skip: why it cannot run -->")
    timeout = float(match["timeout"]) if match["timeout"] else None
    if match["state"] == "healthy":
        return safety, reason, k + 1, ("healthy",), timeout
    faults = None if match["state"] is None else tuple(match["faults"].split())
    return safety, reason, k + 1, faults, timeout


def _refuse_misspelt(line: str, where: str) -> None:
    """A comment right above a fence that is nearly a directive (``check: mutating``) is an error:
    ignored, it would run a mutating command as read-only."""
    near = _NEAR_DIRECTIVE.match(line)
    if (
        near
        and near["prefix"].lower() != "checks"
        and difflib.get_close_matches(near["prefix"].lower(), ["checks"], n=1, cutoff=0.7)
    ):
        word = near["word"] or "read-only"
        raise PageError(f"{where}: '{line.strip()}' is not a directive; did you mean `<!-- checks: {word} -->`?")


def _refuse_squashed(block_lines: list[str], first_line: int, path: Path) -> None:
    """``$df -h`` (no space after ``$``) would silently be expected output instead of a command."""
    for i, line in enumerate(block_lines):
        if _SQUASHED_COMMAND.match(line):
            raise PageError(
                f"{path}:{first_line + i}: '{line.strip()}' starts with '$' but no space; "
                f"write '$ {line[1:].strip()}' for a command"
            )


def _steps(text: str, first_line: int) -> list[Step]:
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


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` standing for any text (lines included).

    A line that is only ``...`` stands for any number of lines, none included, so a page can show
    a header "and whatever follows it".
    """
    lines = _normalise(expected).split("\n")
    pattern = ""
    for i, line in enumerate(lines):
        if i:
            pattern += r"\n?" if "..." in (line, lines[i - 1]) else r"\n"
        pattern += ".*?".join(re.escape(part) for part in line.split("..."))
    return re.fullmatch(r"(?s)" + pattern, _normalise(actual)) is not None


def run_bash(script: str, env: Mapping[str, str], timeout: float, cwd: Path) -> tuple[int | None, str]:
    """Run ``script`` in bash (``set -euo pipefail``) in its own process group; its exit status
    (None on timeout) and what it printed. On timeout the whole group is killed: a ``sleep`` or a
    server the script started does not outlive it."""
    proc = subprocess.Popen(
        ["bash", "-c", "set -euo pipefail\n" + script],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a child that left the group still holds the pipe
            proc.kill()
            out = b""
        return None, out.decode(errors="replace")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the script left running in the background


def run_step(step: Step, env: Mapping[str, str], timeout: float, cwd: Path) -> Outcome:
    """Run one command in bash and compare its output and exit status with the page."""
    code, output = run_bash(step.command, env, timeout, cwd)
    if code is None:
        return Outcome(
            step,
            False,
            output,
            None,
            f"TIMEOUT after {timeout:g} s (the command and everything it started were killed)",
            timed_out=True,
        )
    if code != step.exit_code:
        return Outcome(step, False, output, code, f"exit status {code}, page expects {step.exit_code}")
    if not matches(step.expected, output):
        return Outcome(step, False, output, code, "output differs from the page")
    return Outcome(step, True, output, code)


def environment(url: str, data_dir: Path | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a block may use, over the caller's environment (PATH first finds this venv's tools)."""
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    url = url.rstrip("/")
    env["BACKEND_URL"] = url
    env["BACKEND_WS_URL"] = ws_url_of(url)
    env.setdefault("PUBLIC_URL", url)  # the address clients use (a proxy's); the backend's own when none
    if data_dir is not None:
        env["BACKEND_DATA_DIR"] = str(data_dir)
    env.setdefault("NO_COLOR", "1")
    return env
