"""The ``<!-- checks: ... -->`` line above a fence: what running the block does, and when it runs.

The grammar, read at a glance (words alone, named options where more is needed, a reason last)::

    <!-- checks: fault -->                         output seen during the page's faults (game days)
    <!-- checks: healthy -->                       output only a healthy backend gives
    <!-- checks: mutating -->                      changes state; ``checks run`` asks --allow-mutating
    <!-- checks: destructive faults=hung-server --> a mitigation, run under that fault only
    <!-- checks: timeout=120 -->                   each command may run 120 s (default 60)
    <!-- checks: production: what it does -->      runs on the production host only: the rehearsal
                                                   runs it there; elsewhere it is skipped, with this reason
    <!-- checks: production faults=x: what -->     a mitigation step that needs the production host:
                                                   the rehearsal runs it, the lab game day stands in for it
    <!-- checks: skip: why it cannot run -->       never run (needs a second machine); the reason is shown
    <!-- checks: skip faults=partition: why -->    a step the game day stands in for, under that fault

An unmarked block is ``read-only``: it runs on the healthy backend (Sybil) and in ``checks run``,
never in a game day. ``faults=a,b`` implies ``fault``. A directive that cannot be read is an
error naming the page line and what to write instead: a block run under the wrong assumption is
worse than a build that stops.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re

from pages.errors import PageError

__all__ = ["DEFAULT_TIMEOUT", "Directive", "Safety", "State", "read_directive"]

DEFAULT_TIMEOUT = 60.0  # seconds a command may run unless its block's ``timeout=N`` says otherwise
_COMMENT = re.compile(r"^\s*<!--\s*checks:\s*(?P<body>.*?)\s*-->\s*$")
# anything that looks like it meant to be a directive: an HTML comment opening with a word near "checks"
_NEAR = re.compile(r"^\s*<!--\s*(?P<prefix>[a-z]+)\s*:?\s*(?P<word>[a-z-]+)?", re.IGNORECASE)
_FAULT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Safety(enum.Enum):
    """What running a block does to the target."""

    READ_ONLY = "read-only"
    MUTATING = "mutating"
    DESTRUCTIVE = "destructive"
    PRODUCTION = "production"  # run for real on the rehearsal host (systemd, the guide's paths)
    SKIP = "skip"


class State(enum.Enum):
    """Which backend a block's expected output belongs to."""

    ANY = "any"  # unmarked: runs on the healthy backend; a game day leaves it alone
    FAULT = "fault"  # what the reader sees during the page's faults: run by game days only
    HEALTHY = "healthy"  # what only a healthy backend prints: run on it, and in a game day's verify never


_WORDS = [s.value for s in Safety] + [State.FAULT.value, State.HEALTHY.value]
_OPTIONS = ("faults", "timeout")


@dataclasses.dataclass(frozen=True)
class Directive:
    """A block's directive; an unmarked block has ``Directive()``, with ``line`` 0."""

    safety: Safety = Safety.READ_ONLY
    state: State = State.ANY
    faults: tuple[str, ...] = ()  # with State.FAULT: only these faults (empty: every fault of the page)
    timeout: float | None = None  # seconds per command; None: the caller's default
    reason: str = ""  # why a skipped block cannot run
    line: int = 0  # 1-based page line of the comment


def read_directive(line: str, where: str, line_no: int) -> Directive | None:
    """The directive on ``line``, None when it holds none; ``where`` (``path:line``) names it in errors."""
    match = _COMMENT.match(line)
    if not match:
        _refuse_misspelt(line, where)
        return None
    head, _, reason = match["body"].partition(":")
    words: list[str] = []
    options: dict[str, str] = {}
    for token in head.split():
        if token.endswith(","):
            raise PageError(
                f"{where}: directives take no commas now; write `<!-- checks: {_modern(match['body'])} -->`"
            )
        key, equals, value = token.partition("=")
        if equals:
            if key not in _OPTIONS:
                raise PageError(f"{where}: unknown option '{key}='; the options are faults=a,b and timeout=N")
            options[key] = value
        elif token in _WORDS:
            words.append(token)
        else:
            close = difflib.get_close_matches(token, _WORDS, n=1)
            hint = f"; did you mean `checks: {close[0]}`?" if close else ""
            raise PageError(f"{where}: unknown directive word '{token}'; use {', '.join(_WORDS)}{hint}")
    return _directive(words, options, reason.strip(), where, line_no)


def _directive(words: list[str], options: dict[str, str], reason: str, where: str, line_no: int) -> Directive:
    safeties = [Safety(w) for w in words if w in {s.value for s in Safety}]
    if len(safeties) > 1:
        raise PageError(f"{where}: one safety word per block, not {' and '.join(s.value for s in safeties)}")
    safety = safeties[0] if safeties else Safety.READ_ONLY
    if safety in (Safety.SKIP, Safety.PRODUCTION) and not reason:
        raise PageError(
            f"{where}: 'checks: {safety.value}' needs a reason: <!-- checks: {safety.value}: why it runs only there -->"
        )
    if reason and safety not in (Safety.SKIP, Safety.PRODUCTION):
        raise PageError(
            f"{where}: only a skipped or production block takes a reason (after ':'); run blocks explain themselves"
        )
    faults = tuple(f for f in options.get("faults", "").split(",") if f)
    if "faults" in options and not faults or not all(_FAULT_NAME.match(f) for f in faults):
        raise PageError(
            f"{where}: faults= takes fault names in kebab-case, comma-separated: faults=hung-server,crash-loop"
        )
    states = {State(w) for w in words if w in (State.FAULT.value, State.HEALTHY.value)} | (
        {State.FAULT} if faults else set()
    )
    if len(states) > 1:
        raise PageError(f"{where}: a block shows the fault or the healthy backend, not both")
    timeout = None
    if "timeout" in options:
        try:
            timeout = float(options["timeout"].removesuffix("s"))
        except ValueError:
            raise PageError(f"{where}: timeout= takes seconds, e.g. timeout=120") from None
    return Directive(safety, states.pop() if states else State.ANY, faults, timeout, reason, line_no)


def _modern(body: str) -> str:
    """The old comma form (``read-only, fault a b, timeout 120: why``) in the new grammar."""
    head, colon, reason = body.partition(":")
    words: list[str] = []
    for part in (p.strip() for p in head.split(",")):
        name, *rest = part.split()
        if name == "timeout":
            words.append(f"timeout={rest[0].removesuffix('s')}" if rest else "timeout=60")
        elif name == "fault" and rest:
            words.append("faults=" + ",".join(rest))
        elif name != "read-only" or len(head.split(",")) == 1:
            words.append(name)
    return " ".join(words) + (f": {reason.strip()}" if colon else "")


def _refuse_misspelt(line: str, where: str) -> None:
    """A comment right above a fence that is nearly a directive (``check: mutating``) is an error:
    ignored, it would run a mutating command as read-only."""
    near = _NEAR.match(line)
    if (
        near
        and near["prefix"].lower() != "checks"
        and difflib.get_close_matches(near["prefix"].lower(), ["checks"], n=1, cutoff=0.7)
    ):
        word = near["word"] or "read-only"
        raise PageError(f"{where}: '{line.strip()}' is not a directive; did you mean `<!-- checks: {word} -->`?")
