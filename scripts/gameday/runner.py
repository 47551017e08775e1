"""One game day: a fresh supervised backend with traffic, a real fault, then the runbook in phases.

1. **Detect**: ``checks doctor`` is run until its first runbook is the page's (or a deadline);
   the seconds from fault to that verdict are recorded.
2. **Diagnose**: the page's Diagnose blocks marked ``fault`` run against the sick backend; their
   expected output is the failing output the reader sees.
3. **Mitigate**: the page's Mitigate blocks marked for this fault run as written. A step that
   cannot run here (production tooling) is skipped with its reason, and the harness does in its
   place what the scenario declares for it (:class:`~scripts.gameday.scenarios.StandIn`), said in
   the result. The seconds from the first step to ``/ready`` 200 are recorded.
4. **Verify**: the page's Verify blocks run, and doctor must find nothing but the rows whose window
   still holds the fault (named by the scenario, with why).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pages import CONSOLE, DEFAULT_TIMEOUT, Block, Outcome, as_published, environment, read_page, run_step
from scripts import live
from scripts.drill.traffic import Fleet, traffic
from scripts.faults import Proxy, Target
from scripts.gameday.scenarios import Scenario, StandIn
from scripts.redis_server import RedisServer

__all__ = ["Diagnosis", "GameDay", "Step", "blocks_of", "doctor", "run"]

DETECT_DEADLINE = 60.0
# A write and a broadcast every 0.1 s per game day: traffic enough for every window a page reads,
# and four game days' durable commits do not hold SQLite's lock past the /ready probe's 0.5 s on a
# shared disk (at the drills' 0.02 s, two clean-clone runs saw one "locked" probe after recovery).
TRAFFIC_PAUSE = 0.1
DOCTOR_PAUSE = 0.25  # between two doctor runs of a loop: each takes the database's write lock a moment
HEALTHY_DEADLINE = 45.0


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
    doctor_said: str = ""  # its first finding (or its one line, when it could not run)
    doctor_rows: dict[str, str] = dataclasses.field(default_factory=dict)  # check -> status, when it routed
    detected_seconds: float | None = None
    steps: list[Step] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    stand_in: str = ""
    mitigated_seconds: float | None = None
    verified: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)
    triage: str = ""  # what "No page fits" printed, followed alone while the fault held

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
            **{k: v for k, v in dataclasses.asdict(self).items() if k not in ("steps", "triage")},
            "routed": self.routed,
            "passed": self.passed,
            "phases": {p: list(self.count(p)) for p in ("diagnose", "mitigate", "verify")},
            "failures": [f"{s.phase}: {s.report}" for s in self.steps if not s.passed],
        }


def blocks_of(path: Path, section: str, wanted: Callable[[Block], bool]) -> list[Block]:
    """The console blocks of ``section`` in the page at ``path`` that ``wanted`` keeps, those of the
    snippets it includes there too."""
    shown = as_published(path, live.REPO / "docs")
    return [b for b in shown if b.section == section and b.language == CONSOLE and wanted(b)]


def _doctor(backend: live.Live) -> subprocess.CompletedProcess[str]:
    """`checks doctor --json` as the reader runs it on the backend's host (BACKEND_* set, and the
    bus's address on an instance of several, as the fleet pages' "Before you start" sets it)."""
    bus = {k: v for k, v in backend.env.items() if k == "BACKEND_BUS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "checks", "doctor", "--json"],
        capture_output=True,
        text=True,
        env={**environment(backend.url, backend.data_dir), **bus},
        timeout=60,
        check=False,
    )


@dataclasses.dataclass
class Diagnosis:
    """One doctor run: exit code, the first runbook it names, its first finding, and every row's status."""

    code: int
    first_runbook: str
    first: str
    rows: dict[str, str]  # check -> status (ok, warn, fail, error, skip)


def doctor(backend: live.Live) -> Diagnosis:
    done = _doctor(backend)
    if done.returncode == 2:  # could not connect or hung: the one line names Backend down
        named = re.search(r"/runbooks/([a-z0-9-]+)/", done.stderr)
        return Diagnosis(2, named.group(1) if named else "", done.stderr.strip(), {})
    report = json.loads(done.stdout)
    first = next((r for r in report["results"] if r["runbook"]), None)
    return Diagnosis(
        done.returncode,
        report["first_runbook"],
        f"{first['status']} {first['check']}: {first['detail']}" if first else "",
        {r["check"]: r["status"] for r in report["results"]},
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
    bus_url: str = ""  # the message bus the backend reads, when the scenario's fault acts on one
    stand_ins: list[StandIn] = dataclasses.field(default_factory=list)  # what is left of the scenario's

    def env(self) -> dict[str, str]:
        extra = self.scenario.env(self.backend) if self.scenario.env else {}
        public = {"PUBLIC_URL": self.proxy_url} if self.proxy_url else {}  # clients reach it through the proxy
        bus = {"BACKEND_BUS_URL": self.bus_url} if self.bus_url else {}  # the page reads it from the unit
        return {**environment(self.backend.url, self.backend.data_dir), **public, **bus, **extra}

    def stand_in(self, block: Block, day: GameDay, say: Callable[[str], None]) -> None:
        """Do, in place of a step only production tooling can run, what the scenario declares for it."""
        if not self.stand_ins:
            day.problems.append(
                f"{block.where}: a skipped Mitigate step the scenario declares no stand-in for "
                f"(scripts/gameday/scenarios.py, {self.scenario.name}: stand_ins)"
            )
            return
        kind = self.stand_ins.pop(0)
        if kind is StandIn.STOP_SERVICE:
            self.backend.stop()
            what = "stops the service (systemctl stop backend)"
        elif kind is StandIn.START_SERVICE:
            self.backend.reconfigure()  # stopped if it runs, started again as it was
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
        if block.skipped_here:
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


TRIAGE = live.REPO / "docs" / "triage.md"


def _triage(stage: _Stage) -> str:
    """Every command "No page fits" gives that runs here, in page order, as a reader with no other
    page would run them; their output, whatever it is (the page's expected output is the healthy
    backend's, so a difference is no failure here: what the reader learns is)."""
    printed = []
    for block in read_page(TRIAGE).console():
        if block.skipped_here:
            continue
        for step in block.steps:
            outcome = run_step(step, stage.env(), block.timeout or DEFAULT_TIMEOUT, live.REPO)
            printed.append(f"$ {step.command}\n{outcome.output}")
    return "\n".join(printed)


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


def _detect(day: GameDay, backend: live.Live, deadline: float, say: Callable[[str], None]) -> None:
    """Run doctor until it names the page first (or the deadline); record the seconds it took."""
    started = time.monotonic()
    found = Diagnosis(0, "", "", {})
    while time.monotonic() - started < deadline:
        found = doctor(backend)
        day.doctor_first, day.doctor_said, day.doctor_rows = found.first_runbook, found.first, found.rows
        if day.doctor_first == day.runbook:
            day.detected_seconds = round(time.monotonic() - started, 2)
            break
        time.sleep(DOCTOR_PAUSE)  # not a wait for a condition: room between two doctor runs
    say(
        f"  detect   doctor exit {found.code}, first runbook {day.doctor_first or '(none)'} "
        f"after {day.detected_seconds} s: {found.first[:160]}"
    )


def _wait_healthy(backend: live.Live, scenario: Scenario, fleet: Fleet, deadline: float) -> None:
    """Wait for /ready 200, a clean doctor (but the windows still holding the fault) and every client
    connected again."""
    sick: dict[str, str] = {}

    def healthy() -> bool:
        sick.clear()
        sick.update(_still_sick(backend, scenario))
        sick.update(fleet.absent())
        return not sick

    try:
        live.wait_for(
            healthy,
            deadline,
            "/ready 200, doctor clean (but the windows still holding the fault) and every client back",
            interval=DOCTOR_PAUSE,
        )
    except live.WaitTimeout as exc:
        raise live.WaitTimeout(f"{str(exc).splitlines()[0]}; still: {sick}") from None


def _companion(tmp: Path, data_dir: Path, on_bus: dict[str, Any]) -> live.Live:
    """Another instance on the scenario's bus and database, with a directory of its own."""
    tmp.mkdir(parents=True)
    return live.start(tmp, "supervise", data_dir=data_dir, **{**live.HARNESS_SETTINGS, **on_bus, "instance_dir": tmp})


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
    fault = scenario.fault
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    def shows(block: Block) -> bool:
        return block.shows_fault(scenario.name)

    bus = RedisServer(tmp / "bus").start() if scenario.on_fleet else None
    on_bus = {"bus_url": bus.url, "instance_dir": tmp / "instance"} if bus else {}
    with fault.prepared(data_dir):
        backend = live.start(
            tmp, "supervise", data_dir=data_dir, **{**live.HARNESS_SETTINGS, **scenario.settings, **on_bus}
        )
        companions: list[live.Live] = []
        proxy = Proxy(backend.port) if fault.needs_proxy else None
        stage = _Stage(backend, scenario, stand_ins=list(scenario.stand_ins), bus_url=bus.url if bus else "")
        try:
            companions += [_companion(tmp / f"companion-{n}", data_dir, on_bus) for n in range(scenario.companions)]
            if proxy:
                proxy.start()
                stage.proxy_url = proxy.url
            way_in = companions[0].url if companions else proxy.url if proxy else None
            with traffic(backend, way_in, fleet_size=scenario.clients, pause=TRAFFIC_PAUSE) as parts:
                with fault(Target(backend, proxy, bus), **scenario.params) as lift:
                    stage.lift = lift
                    say(f"{page} under {scenario.name}: {scenario.what}")
                    _detect(day, backend, detect_deadline, say)
                    _run_blocks(day, "diagnose", blocks_of(page, "Diagnose", shows), stage, say)
                    day.triage = _triage(stage)
                    mitigating = time.monotonic()
                    _run_blocks(day, "mitigate", blocks_of(page, "Mitigate", shows), stage, say)
                    backend = stage.backend
                    _wait_healthy(backend, scenario, parts.fleet, healthy_deadline)
                    day.mitigated_seconds = round(time.monotonic() - mitigating, 2)
                verify = blocks_of(page, "Verify", lambda b: not b.shows_healthy and (not b.is_fault_block or shows(b)))
                _run_blocks(day, "verify", verify, stage, say)
                still = _still_sick(backend, scenario)
                day.verified = not still
                day.problems += [f"after mitigation, doctor still finds {k}: {v}" for k, v in still.items()]
        except live.WaitTimeout as exc:
            day.problems.append(str(exc).splitlines()[0])
        finally:
            if proxy:
                proxy.close()
            stage.backend.stop()
            backend.stop()
            for companion in companions:
                companion.stop()
            if bus:
                bus.stop()
    if stage.stand_ins:
        day.problems.append(f"declared stand-ins the page never needed: {[s.value for s in stage.stand_ins]}")
    say(
        f"  result   {'PASS' if day.passed else 'FAIL'} detected {day.detected_seconds} s, mitigated "
        f"{day.mitigated_seconds} s" + "".join(f"\n  problem  {p}" for p in day.problems)
    )
    return day
