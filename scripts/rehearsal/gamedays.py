"""Game days on the rehearsal host: a runbook met the way the on-call engineer meets it.

1. **The fault**, made for real on the guide's ``backend.service`` (the fault library, aimed at the
   host), under traffic; a scenario's settings go where production keeps them, ``/etc/backend/env``.
2. **The alert**: the published rules, evaluated by the host's Prometheus, raise the page's alert;
   the seconds to pending are recorded, and to the Alertmanager delivery when it comes in the game
   day. Its ``runbook_url`` is the page the engineer opens.
3. **The page**, fetched from that URL through the host's nginx: "Before you start" first, then the
   page's Diagnose, Mitigate and Verify blocks for this fault, each command as its copy button gives
   it, in a root shell on the host. Production steps run for real (``systemctl``, ``journalctl``,
   ``/etc/backend/env``, the restore with its owner). A ``skip`` step (a second machine) is the one
   place the harness lifts the fault instead, and says so.
4. **Healthy**: ``/ready`` 200 and doctor on the host clean but for the windows that still hold the
   fault; the seconds from the first Mitigate command are recorded.
5. **Nothing acknowledged lost**: every write the traffic had acknowledged reads back, and every
   broadcast acknowledged as saved reached every client (or the client was told of a gap).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pages import Block, Rendered, Safety, read_page
from scripts import live
from scripts.drill.traffic import traffic
from scripts.faults import Target
from scripts.faults.nginx_path import ClientsPath
from scripts.gameday.scenarios import Scenario
from scripts.rehearsal.alerts import Receiver, active_alerts, scraped
from scripts.rehearsal.guide import ADDRESS, Published, copy_downloads, reader_env, remove_added
from scripts.rehearsal.host import Host
from scripts.rehearsal.reader import Ran, paired, run_block, source_of
from scripts.rehearsal.service import ENV_FILE, NGINX, HostBackend, HostBus, running_instances

__all__ = ["ALERT_DEADLINE", "Rehearsal", "delivered", "from_alert", "rehearse"]

ALERT_DEADLINE = 150.0  # the guide's 15 s scrape and evaluation, a 1-minute rate window, and room
HEALTHY_DEADLINE = 60.0
SETTLE_DEADLINE = 180.0  # for the last game day's windows to pass: each meets its fault on a healthy host


@dataclasses.dataclass
class Rehearsal:
    """What happened when a page met its fault on the rehearsal host."""

    page: str
    fault: str
    alert: str = ""
    runbook_url: str = ""
    alert_state: str = ""  # pending, or firing when the page was opened
    pending_seconds: float | None = None  # from the fault to the alert active in Prometheus
    delivered_seconds: float | None = None  # to Alertmanager's delivery (None: its for: outlasted the game day)
    started: float = 0.0  # time.monotonic() of the fault, for a delivery that comes after the game day
    steps: list[Ran] = dataclasses.field(default_factory=list)
    lifted: str = ""  # what the harness did for a step that needs a second machine
    mitigated_seconds: float | None = None
    verified: bool = False
    problems: list[str] = dataclasses.field(default_factory=list)
    triage: str = ""  # what "No page fits" printed on the host, followed alone while the fault held
    acknowledged: list[int] = dataclasses.field(default_factory=list)  # writes, broadcasts: none lost

    @property
    def passed(self) -> bool:
        return (
            bool(self.runbook_url)
            and self.verified
            and self.mitigated_seconds is not None
            and not self.problems
            and all(s.passed for s in self.steps)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in dataclasses.asdict(self).items() if k not in ("steps", "started", "triage")},
            "where": "rehearsal",
            "passed": self.passed,
            "commands": [len([s for s in self.steps if s.passed]), len(self.steps)],
            "failures": [s.report for s in self.steps if not s.passed],
        }


def _page_alert(slug: str, since: float, instance: str) -> dict[str, Any] | None:
    """The first alert linking ``runbooks/slug/`` for ``instance`` (the one the fault hit: on a fleet,
    another instance's blip from the fleet page's own steps may still raise one) that became active
    after ``since`` (epoch seconds)."""
    for alert in active_alerts():
        url = alert.get("annotations", {}).get("runbook_url", "")
        active_at = alert.get("activeAt", "")
        ours = alert.get("labels", {}).get("instance") == instance
        if f"/runbooks/{slug}/" in url and ours and _epoch(active_at) >= since - 1:
            return alert
    return None


def _epoch(stamp: str) -> float:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _open(url: str) -> str:
    """The page behind ``url`` from the host's nginx (``handbook.example`` is the host itself)."""
    parts = urllib.parse.urlsplit(url)
    response = httpx.get(
        f"http://127.0.0.1{parts.path}", params=parts.query, headers={"Host": parts.netloc}, timeout=10
    )
    response.raise_for_status()
    return response.text


def _doctor(host: Host, backend: HostBackend) -> dict[str, str]:
    """Doctor on the host, in the reader's shell, on ``backend``: the rows that are not ok (or why it
    could not run)."""
    code, out = host.run(f"BACKEND_URL={backend.url} BACKEND_WS_URL={backend.ws_url} checks doctor --json", timeout=60)
    if code == 2:
        return {"doctor": out.strip()[-300:]}
    try:
        rows = json.loads(out[out.index("{") :])["results"]
    except ValueError:
        return {"doctor": out.strip()[-300:]}
    return {r["check"]: r["detail"] for r in rows if r["status"] in ("warn", "fail", "error")}


# Windows that a production step holds open on the host and a stand-in does not in the lab
_HOST_LINGERING = {
    "near-capacity": {"ws.disconnects": "the idle clients the page's restart cut (they never answer the close)"},
    # a real disk, where the lab's is tmpfs: writing the export, and moving it off, hold a commit's
    # fsync long enough that a broadcast's save (1 s) gives up; the page says so
    "data-disk-almost-full": {"db.errors": "broadcast saves that waited past 1 s on the busy disk"},
}


def _healthy(host: Host, backend: HostBackend, scenario: Scenario) -> dict[str, str]:
    try:
        if httpx.get(f"{backend.url}/ready", timeout=2).status_code != 200:
            return {"/ready": "not 200"}
    except httpx.HTTPError as exc:
        return {"/ready": str(exc)}
    lingering = {**scenario.lingering, **_HOST_LINGERING.get(scenario.name, {})}
    return {k: v for k, v in _doctor(host, backend).items() if k not in lingering}


def _before_you_start(block: Block) -> bool:
    return block.section == "Before you start"


def from_alert(rendered: Rendered, runbook_url: str) -> Rendered:
    """A "Before you start" block as the page opened from the alert shows it, and its copy button
    gives it: ``docs/assets/alert-context.js`` fills BACKEND_URL and BACKEND_WS_URL in for the
    instance the link names (on a fleet, the instance that fired: 8080 is served by none)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(runbook_url).query)
    instance = query.get("instance", [""])[0]
    if not _INSTANCE.fullmatch(instance):
        return rendered
    text = re.sub(r"\bBACKEND_URL=\S+", f"BACKEND_URL=http://{instance}", rendered.text)
    text = re.sub(r"\bBACKEND_WS_URL=\S+", f"BACKEND_WS_URL=ws://{instance}/ws", text)
    return Rendered(rendered.language, text)


_INSTANCE = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")  # the shape alert-context.js accepts (IPv6 aside)


def _phase(
    pairs: list[tuple[Rendered, Block]], section: str, wanted: Callable[[Block], bool]
) -> list[tuple[Rendered, Block]]:
    return [(r, b) for r, b in pairs if b.section == section and wanted(b)]


def _run(
    host: Host,
    day: Rehearsal,
    blocks: list[tuple[Rendered, Block]],
    env: dict[str, str],
    lift: Callable[[], None],
    say: Callable[[str], None],
) -> None:
    for rendered, block in blocks:
        if block.safety is Safety.SKIP:  # a second machine's step: the one stand-in left
            lift()
            day.lifted = f"{block.path.relative_to(live.REPO)}:{block.start}: {block.skip_reason}"
            say(f"  lifted   {day.lifted}")
            continue
        day.steps += run_block(host, rendered, block, env, say)
        if day.steps and not day.steps[-1].passed:
            return


def rehearse(
    host: Host, published: Published, scenario: Scenario, receiver: Receiver, say: Callable[[str], None] = print
) -> Rehearsal:
    """The game day of ``scenario`` on ``host``, from fault to verify; the host is left as it was
    (settings file restored, service restarted when the game day changed it)."""
    slug = scenario.runbook
    day = Rehearsal(f"runbooks/{slug}.md", scenario.name)
    fleet = scenario.on_fleet  # met on the fleet the fleet page made: its first instance, its Redis
    instances = running_instances(host) if fleet else []  # a page may add one: it goes again after
    backend = HostBackend.instance(host) if fleet else HostBackend.on(host)
    # the clients come through the guide's nginx for a fault of their path
    path = ClientsPath(host, published.download("deployment/nginx.conf")) if scenario.fault.needs_proxy else None
    env_file = host.path(ENV_FILE)
    settings_before = env_file.read_text()
    settings = {**scenario.settings, **_drill_routes(scenario)}
    if settings:
        backend.settings(settings)
        backend.restart_readers()
    extra = {k: backend.seen_there(Path(v)) for k, v in (scenario.env(backend) if scenario.env else {}).items()}
    env = {**reader_env(published), **extra}  # PUBLIC_URL: the page reads it from the host's settings file
    shows: Callable[[Block], bool] = lambda b: b.shows_fault(scenario.name)  # noqa: E731 - read as a rule
    try:
        _settle(host, backend, scenario)
        way_in = NGINX if fleet else path.url if path else None  # a fleet's clients come through nginx
        with traffic(backend, way_in, fleet_size=scenario.clients, pause=0.1) as parts:
            started, wall = time.monotonic(), time.time()
            day.started = started
            target = Target(backend, path, HostBus(host), NGINX) if fleet else Target(backend, path)
            with scenario.fault(target, **scenario.params) as lift:
                say(f"{day.page} under {scenario.name} on the rehearsal host: {scenario.what}")
                _paged(host, day, wall, f"{backend.host}:{backend.port}")
                sender = f"{day.alert} {day.alert_state}" if day.alert else day.alert_state
                say(f"  sent by  {sender} after {day.pending_seconds} s: {day.runbook_url}")
                if not day.runbook_url.startswith(ADDRESS):
                    day.problems.append(f"the page's link is {day.runbook_url}, not the published handbook {ADDRESS}")
                html = _open(day.runbook_url)
                host.new_shell()  # the engineer paged now opens a terminal of their own
                pairs, _ = paired(html, source_of(urllib.parse.urlsplit(day.runbook_url).path))
                copy_downloads(host, published, f"runbooks/{slug}/", html)
                before = [(from_alert(r, day.runbook_url), b) for r, b in pairs if _before_you_start(b)]
                _run(host, day, before, env, lift, say)
                _run(host, day, _phase(pairs, "Diagnose", shows), env, lift, say)
                _triage(host, day, env, say)
                mitigating = time.monotonic()
                _run(host, day, _phase(pairs, "Mitigate", shows), env, lift, say)
                sick: dict[str, str] = {}

                def healthy() -> bool:
                    sick.clear()
                    sick.update(_healthy(host, backend, scenario))
                    sick.update(parts.fleet.absent())
                    return not sick

                try:
                    live.wait_for(
                        healthy, HEALTHY_DEADLINE, "/ready 200, doctor clean and every client back on the host", 1.0
                    )
                    day.mitigated_seconds = round(time.monotonic() - mitigating, 1)
                except live.WaitTimeout:
                    day.problems.append(f"after the Mitigate steps, still: {sick}")
            verify = _phase(pairs, "Verify", lambda b: not b.shows_healthy and (not b.is_fault_block or shows(b)))
            _run(host, day, verify, env, lambda: None, say)
            still = _healthy(host, backend, scenario)
            day.verified = not still
            day.problems += [f"after mitigation, doctor on the host still finds {k}: {v}" for k, v in still.items()]
            day.problems += parts.unaccounted(writes_may_go=bool(scenario.writes_may_go))
            day.acknowledged = [len(parts.writer.acked), len(parts.publisher.acked)]
            say(f"  kept     {day.acknowledged[0]} acknowledged writes, {day.acknowledged[1]} broadcasts")
            delivered(day, receiver)
    except live.WaitTimeout as exc:
        day.problems.append(str(exc).splitlines()[0])
    finally:
        if env_file.read_text() != settings_before:
            env_file.write_text(settings_before)
            backend.restart_readers()
        if fleet and set(running_instances(host)) > set(instances):
            removed = remove_added(host, published, say)
            day.problems += [f"putting the fleet back: {r.report}" for r in removed if not r.passed]
    say(f"  result   {'PASS' if day.passed else 'FAIL'}" + "".join(f"\n  problem  {p}" for p in day.problems))
    return day


def _paged(host: Host, day: Rehearsal, wall: float, instance: str) -> None:
    """What sends the engineer to the page: the alert linking it, from the host's Prometheus; for a
    symptom page (no alert of its own: clients report it), doctor's ``open first:`` line on the host."""
    slug = day.page.removeprefix("runbooks/").removesuffix(".md")
    if read_page(live.REPO / day.page).meta.get("alerts"):
        alert = live.wait_for(
            lambda: _page_alert(slug, wall, instance), ALERT_DEADLINE, f"an alert linking {slug} for {instance}", 1.0
        )
        day.alert = alert["labels"]["alertname"]
        day.runbook_url = alert["annotations"]["runbook_url"]
        day.alert_state = alert["state"]
    else:
        day.runbook_url = _named_by_doctor(host, slug)
        day.alert_state = "named by checks doctor"
    day.pending_seconds = round(time.monotonic() - day.started, 1)


def _named_by_doctor(host: Host, slug: str) -> str:
    """The link of doctor's ``open first:`` line on the host, once it names ``slug``'s page."""
    last = ["nothing yet"]

    def opens() -> str | None:
        _, out = host.run("checks doctor || true", timeout=60)
        found = re.search(r"^(?:open first: (\S+)|no page fits).*$", out, re.M)
        last[0] = found[0] if found else "no line saying which page to open"
        return found[1] if found and found[1] and f"/runbooks/{slug}/" in found[1] else None

    try:
        return live.wait_for(opens, ALERT_DEADLINE, f"checks doctor on the host to open {slug}", 1.0)
    except live.WaitTimeout as exc:
        raise live.WaitTimeout(f"{str(exc).splitlines()[0]}; it last said: {last[0]}") from None


def _triage(host: Host, day: Rehearsal, env: dict[str, str], say: Callable[[str], None]) -> None:
    """ "No page fits" as published, followed alone on the host while the fault holds: every command
    in page order, its output kept for the scenario's patterns. Its expected outputs are a healthy
    backend's, so only a production step (systemd, the journal, the settings file) must do what the
    page shows: those are proven nowhere else."""
    pairs, _ = paired(_open(f"{ADDRESS}triage/"), source_of("/triage/"))
    printed = []
    for rendered, block in pairs:
        if block.section == "Before you start" or block.safety is Safety.SKIP:
            continue
        for ran in run_block(host, rendered, block, env, lambda line: None):
            printed.append(f"$ {ran.command}\n{ran.output}")
            if block.safety is Safety.PRODUCTION and not ran.passed:
                day.problems.append(f"No page fits, followed under the fault: {ran.report}")
    day.triage = "\n".join(printed)
    say(f"  triage   No page fits followed alone: {len(printed)} commands")


def _drill_routes(scenario: Scenario) -> dict[str, object]:
    """A fault made through the drill routes needs them served, which the rehearsal host's backend
    does only with a token in its settings file (nginx never passes them: the guide's nginx.conf)."""
    return {"faults_token": live.FAULTS_TOKEN} if scenario.fault.drill_routes else {}


def _settle(host: Host, backend: HostBackend, scenario: Scenario) -> None:
    """Wait until no alert links the page and doctor on the host is clean: the windows of the game day
    before (an error rate over a minute) must not stand in for this fault's."""
    still: dict[str, object] = {}

    def quiet() -> bool:
        still.clear()
        linked = [
            f"{a['labels'].get('alertname')} on {a['labels'].get('instance')}"
            for a in active_alerts()
            if f"/runbooks/{scenario.runbook}/" in a["annotations"].get("runbook_url", "")
        ]
        # two good scrapes in the last minute: a counter's rise is seen only from a sample before it
        seen = scraped('sum(count_over_time(up{job="backend"}[1m]) * up{job="backend"})') >= 2
        still.update({"alerts": linked, "doctor": _healthy(host, backend, scenario), "scraped": seen})
        return seen and not linked and not still["doctor"]

    try:
        live.wait_for(
            quiet, SETTLE_DEADLINE, f"no alert linking {scenario.runbook} and doctor clean before the fault", 2.0
        )
    except live.WaitTimeout as exc:
        raise live.WaitTimeout(f"{str(exc).splitlines()[0]}; still: {still}") from None


def delivered(day: Rehearsal, receiver: Receiver) -> None:
    """When Alertmanager delivered the page's alert, if it has (its ``for:`` may outlast the game day:
    called again once every game day has run), and whether with the link Prometheus showed."""
    delivery = receiver.first(day.alert, day.started) if day.alert else None
    if delivery and day.delivered_seconds is None:
        day.delivered_seconds = round(delivery.at - day.started, 1)
        if delivery.runbook_url != day.runbook_url:
            day.problems.append(f"Alertmanager delivered {delivery.runbook_url}, Prometheus showed {day.runbook_url}")
