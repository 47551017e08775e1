"""One game day: a fresh supervised backend with traffic, a real fault, then the runbook in phases.

1. **Detect**: ``checks doctor`` is run until its first runbook is the page's (or a deadline);
   the seconds from fault to that verdict are recorded.
2. **Diagnose**: the page's Diagnose blocks marked ``fault`` run against the sick backend; their
   expected output is the failing output the reader sees.
3. **Mitigate**: the page's Mitigate blocks marked for this fault run as written. A step that
   cannot run here (production tooling) is skipped with its reason, and the harness does its effect
   in its place, said in the result. The seconds from the first step to ``/ready`` 200 are recorded.
4. **Verify**: the page's Verify blocks run, and doctor must find nothing but the rows whose window
   still holds the fault (named by the scenario, with why).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from checks.console import DEFAULT_TIMEOUT, Block, Outcome, Safety, environment, parse_file, run_step
from scripts import live
from scripts.drill.drills import traffic
from scripts.drill.proxy import Proxy
from scripts.gameday.scenarios import Scenario, restart_service

__all__ = ["GameDay", "Step", "blocks_of", "doctor", "run", "sections"]

DETECT_DEADLINE = 60.0
HEALTHY_DEADLINE = 45.0
BASE_SETTINGS: dict[str, object] = {
    "cache_probe_interval": 0.5,
    "memory_check_interval": 0.2,
    "log_level": "info",
    "ws_ping_interval": 2,
    "ws_ping_timeout": 4,
}
_SECTION = re.compile(r"^## (\w+)", re.MULTILINE)


@dataclasses.dataclass
class Step:
    """One command of the page, run in a phase."""

    phase: str
    line: int
    command: str
    passed: bool
    report: str


@dataclasses.dataclass
class GameDay:
    """What happened when a page met its fault."""

    page: str
    fault: str
    runbook: str
    doctor_first: str = ""
    detected_seconds: float | None = None
    steps: list[Step] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    stand_in: str = ""
    mitigated_seconds: float | None = None
    verified: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def routed(self) -> bool:
        return self.doctor_first == self.runbook

    def count(self, phase: str) -> tuple[int, int]:
        steps = [s for s in self.steps if s.phase == phase]
        return sum(s.passed for s in steps), len(steps)

    @property
    def passed(self) -> bool:
        return (
            self.routed
            and self.verified
            and self.mitigated_seconds is not None
            and not self.problems
            and all(s.passed for s in self.steps)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in dataclasses.asdict(self).items() if k != "steps"},
            "routed": self.routed,
            "passed": self.passed,
            "phases": {p: list(self.count(p)) for p in ("diagnose", "mitigate", "verify")},
            "failures": [f"{s.phase}: {s.report}" for s in self.steps if not s.passed],
        }


def sections(path: Path) -> dict[str, tuple[int, int]]:
    """Each ``## Section``'s 1-based line range in the page."""
    text = path.read_text(encoding="utf-8")
    starts = [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in _SECTION.finditer(text)]
    ends = [line for _, line in starts[1:]] + [text.count("\n") + 2]
    return {name: (start, end) for (name, start), end in zip(starts, ends, strict=True)}


def blocks_of(path: Path, section: str, wanted: Callable[[Block], bool]) -> list[Block]:
    span = sections(path).get(section)
    if span is None:
        return []
    return [b for b in parse_file(path) if b.language == "console" and span[0] <= b.start < span[1] and wanted(b)]


def _doctor(backend: live.Live) -> subprocess.CompletedProcess[str]:
    """`checks doctor --json` as the reader runs it on the backend's host (BACKEND_* set)."""
    return subprocess.run(
        [sys.executable, "-m", "checks", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=environment(backend.url, backend.data_dir),
        timeout=60,
        check=False,
    )


def doctor(backend: live.Live) -> tuple[int, str, str]:
    """(exit code, the first runbook it names, what its first finding says)."""
    done = _doctor(backend)
    if done.returncode == 2:  # could not connect or hung: the one line names Backend down
        named = re.search(r"/runbooks/([a-z0-9-]+)/", done.stderr)
        return 2, named.group(1) if named else "", done.stderr.strip()
    report = json.loads(done.stdout)
    first = next((r for r in report["results"] if r["runbook"]), None)
    return (
        done.returncode,
        report["first_runbook"],
        f"{first['status']} {first['check']}: {first['detail']}" if first else "",
    )


def _not_ok_rows(backend: live.Live) -> dict[str, str]:
    done = _doctor(backend)
    if done.returncode == 2:
        return {"doctor": done.stderr.strip()}
    return {
        r["check"]: r["detail"] for r in json.loads(done.stdout)["results"] if r["status"] in ("warn", "fail", "error")
    }


@dataclasses.dataclass
class _Stage:
    """The game day's moving parts: the backend (a stand-in may replace it) and the fault's lift."""

    backend: live.Live
    scenario: Scenario
    lift: Callable[[], None] | None = None
    proxy_url: str = ""  # the clients' way in, when the scenario puts a proxy there

    def env(self) -> dict[str, str]:
        extra = self.scenario.env(self.backend) if self.scenario.env else {}
        public = {"PUBLIC_URL": self.proxy_url} if self.proxy_url else {}  # clients reach it through the proxy
        return {**environment(self.backend.url, self.backend.data_dir), **public, **extra}

    def stand_in(self, block: Block, day: GameDay, say: Callable[[str], None]) -> None:
        """Do, in place of a step only production tooling can run, what that step does: stop or start
        the service, or end the fault's cause (a rollback, a failover)."""
        if "systemctl stop backend" in block.text:
            self.backend.stop()
            what = "stops the service (systemctl stop backend)"
        elif "systemctl start backend" in block.text or "systemctl restart backend" in block.text:
            self.backend.stop()
            self.backend = restart_service(self.backend)
            what = "starts the service again (systemctl start backend)"
        else:
            if self.lift:
                self.lift()
            what = self.scenario.stand_in_does
        day.stand_in = "; ".join(filter(None, [day.stand_in, what]))
        say(f"  mitigate harness stands in: {what}")


def _run_blocks(day: GameDay, phase: str, blocks: list[Block], stage: _Stage, say: Callable[[str], None]) -> None:
    """Run ``blocks``' steps as the reader would; a skipped mitigation step is stood in for, in its place."""
    for block in blocks:
        if block.safety is Safety.SKIP:
            day.skipped.append(f"{phase} {block.path}:{block.start}: {block.skip_reason}")
            say(f"  {phase:<8} skipped {block.path}:{block.start} ({block.skip_reason})")
            if phase == "mitigate":
                stage.stand_in(block, day, say)
            continue
        env = stage.env()
        for step in block.steps:
            outcome: Outcome = run_step(step, env, block.timeout or DEFAULT_TIMEOUT, live.REPO)
            day.steps.append(
                Step(phase, step.line, step.command.splitlines()[0], outcome.passed, outcome.report(block.path))
            )
            say(
                f"  {phase:<8} {'ok  ' if outcome.passed else 'FAIL'} {block.path}:{step.line} $ "
                f"{step.command.splitlines()[0]}"
            )
            if not outcome.passed:
                say(outcome.report(block.path))


def _ready(backend: live.Live) -> str:
    """Empty when /ready answers 200, else what it said."""
    try:
        response = httpx.get(f"{backend.url}/ready", timeout=2)
    except (httpx.HTTPError, OSError) as exc:
        return f"no answer: {exc}"
    return "" if response.status_code == 200 else f"{response.status_code} {response.text[:300]}"


def _still_sick(backend: live.Live, scenario: Scenario) -> dict[str, str]:
    """What keeps the backend from healthy: /ready, and doctor's findings but the lingering windows."""
    if not_ready := _ready(backend):
        return {"/ready": not_ready}
    return {k: v for k, v in _not_ok_rows(backend).items() if k not in scenario.lingering}


@contextlib.contextmanager
def _prepared(scenario: Scenario, data_dir: Path) -> Iterator[None]:
    with scenario.prepare(data_dir) if scenario.prepare else contextlib.nullcontext():
        yield


def run(
    page: Path,
    scenario: Scenario,
    tmp: Path,
    say: Callable[[str], None] = print,
    detect_deadline: float = DETECT_DEADLINE,
    healthy_deadline: float = HEALTHY_DEADLINE,
) -> GameDay:
    """The game day of ``page`` under ``scenario``, on a backend of its own under ``tmp``: doctor must
    name ``page`` (by its file name) first, whatever runbook the scenario is meant for."""
    day = GameDay(str(page), scenario.name, page.stem)
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with _prepared(scenario, data_dir):
        backend = live.start(tmp, "supervise", data_dir=data_dir, **{**BASE_SETTINGS, **scenario.settings})
        proxy = Proxy(int(backend.url.rsplit(":", 1)[1])) if scenario.via_proxy else None
        stage = _Stage(backend, scenario)
        try:
            if proxy:
                proxy.start()
                stage.proxy_url = proxy.url
            with traffic(backend, proxy.url if proxy else None, fleet_size=5):
                with scenario.fault(backend, proxy) if proxy else scenario.fault(backend) as lift:
                    stage.lift = lift
                    say(f"{page} under {scenario.name}: {scenario.what}")
                    started = time.monotonic()
                    while time.monotonic() - started < detect_deadline:
                        code, day.doctor_first, first = doctor(backend)
                        if day.doctor_first == day.runbook:
                            day.detected_seconds = round(time.monotonic() - started, 2)
                            break
                    say(
                        f"  detect   doctor exit {code}, first runbook {day.doctor_first or '(none)'} "
                        f"after {day.detected_seconds} s: {first[:160]}"
                    )
                    _run_blocks(
                        day, "diagnose", blocks_of(page, "Diagnose", lambda b: b.shows_fault(scenario.name)), stage, say
                    )
                    mitigating = time.monotonic()
                    _run_blocks(
                        day, "mitigate", blocks_of(page, "Mitigate", lambda b: b.shows_fault(scenario.name)), stage, say
                    )
                    backend = stage.backend
                    sick: dict[str, str] = {}

                    def healthy() -> bool:
                        sick.clear()
                        sick.update(_still_sick(backend, scenario))
                        return not sick

                    try:
                        live.wait_for(
                            healthy,
                            healthy_deadline,
                            "/ready 200 and doctor clean (but the windows still holding the fault)",
                        )
                    except AssertionError as exc:
                        raise AssertionError(f"{str(exc).splitlines()[0]}; still: {sick}") from None
                    day.mitigated_seconds = round(time.monotonic() - mitigating, 2)
                _run_blocks(
                    day,
                    "verify",
                    blocks_of(
                        page, "Verify", lambda b: not b.healthy and (b.faults is None or b.shows_fault(scenario.name))
                    ),
                    stage,
                    say,
                )
                still = _still_sick(backend, scenario)
                day.verified = not still
                day.problems += [f"after mitigation, doctor still finds {k}: {v}" for k, v in still.items()]
        except AssertionError as exc:
            day.problems.append(str(exc).splitlines()[0])
        finally:
            if proxy:
                proxy.close()
            stage.backend.stop()
            backend.stop()
    say(
        f"  result   {'PASS' if day.passed else 'FAIL'} detected {day.detected_seconds} s, mitigated "
        f"{day.mitigated_seconds} s" + "".join(f"\n  problem  {p}" for p in day.problems)
    )
    return day
