"""The production rehearsal (``make rehearsal``; part of ``make test``): a Debian host with real
systemd built from the deployment and monitoring guides as published, then each rehearsed runbook met
from its alert: Prometheus raises it from the published rules, its ``runbook_url`` opens the page on
the host's nginx, and the page's commands run as copied, production steps included.

Needs root, ``debootstrap`` and ``systemd-nspawn`` (``scripts/install-system-tools.sh`` installs
them); without them it fails, saying what is missing: a rehearsal that did not run proves nothing.
The rows go to ``results/test-runs.json`` (``rehearsals``), which the pages' proof notices show."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pages import Rendered, read_page
from scripts import live, results
from scripts.drill.traffic import Fleet
from scripts.gameday.scenarios import SCENARIOS
from scripts.live import REPO
from scripts.rehearsal import gamedays, guide
from scripts.rehearsal.alerts import receiving
from scripts.rehearsal.host import booted
from scripts.rehearsal.reader import SNIPPETS, paired, run_block, source_of
from scripts.rehearsal.rootfs import cache_dir, cached_rootfs

pytestmark = [pytest.mark.slow, pytest.mark.rehearsal, pytest.mark.timeout(1800)]

# The faults met on the host, in this order: the crash loop first, because its alert stays active for
# the ten minutes of its window and so is delivered by Alertmanager while the others run.
REHEARSED = (
    "crash-loop",
    "hung-server",
    "database-lost",
    "cache-dir-deleted",
    "near-capacity",
    "error-spike",
    "db-write-lock",
    "port-taken",
    "capacity-too-low",
    "open-file-limit-too-low",
    "data-volume-read-only",
    "memory-pressure",
    "injected-latency",
    "miss-storm",
    "idle-connections",
    "ws-drop-storm",
    "data-disk-almost-full",
    "slow-consumer-storm",
    "upgrade-dropped",
    "partition",  # last: its 60 cut sockets can raise the storm page's alert for minutes after
)
# The faults met on the fleet the fleet page makes of the host, after the game days above; under the
# last three the page adds an instance, which the fleet page's own removal takes away after each
ON_THE_FLEET = (
    "instance-stopped",
    "bus-down",
    "bus-reader-stalled",
    "overload",
    "clients-growing",
    "memory-from-load",
)
# Runbook faults met in the laboratory only, and why the guide's host cannot have them as they are
NOT_REHEARSED = {
    "instance-killed": "systemd starts a killed instance again after RestartSec=30, racing the page "
    "opened from the alert; the host's instance-down page is rehearsed under instance-stopped",
    "supervisor-gone": "systemd is the supervisor's supervisor there: the guide's unit restarts a killed "
    "one after RestartSec=30, racing the page's `systemctl start`; the host's backend-down page is "
    "rehearsed under hung-server, port-taken and open-file-limit-too-low",
    "cache-disk-full": "the guide gives the cache no filesystem of its own: on its host a full cache disk "
    "is the data volume full, rehearsed as data-disk-almost-full",
}


def test_every_runbook_fault_is_rehearsed_or_says_why_not() -> None:
    """Assert each fault a runbook lists is met on the host, or is named with the reason it cannot
    be (a new runbook fault must choose), and that every runbook has at least one rehearsed fault."""
    listed = {
        fault: page.name
        for page in sorted((REPO / "runbooks").glob("*.md"))
        for fault in read_page(page).meta.get("faults") or []
    }
    met = set(REHEARSED) | set(ON_THE_FLEET)
    unaccounted = sorted(set(listed) - met - set(NOT_REHEARSED))
    assert not unaccounted, f"rehearse these runbook faults or say why not: {unaccounted}"
    assert not met & set(NOT_REHEARSED)
    unrehearsed = sorted(set(listed.values()) - {listed[f] for f in met if f in listed})
    assert not unrehearsed, f"runbooks met on the host under none of their faults: {unrehearsed}"


def _proof() -> Path | None:
    """This checkout's proof when ``make test`` has just made it; else ``make publish`` proves anew."""
    given = os.environ.get("HANDBOOK_PROOF")
    if not given:
        return None
    path = Path(given)
    try:
        ours = results.load(path).data.get("commit") == results.commit()
    except results.ResultsError:
        ours = False
    return path if ours else None


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The host built from the guides, and every rehearsed game day already run on it."""
    missing = [tool for tool in ("debootstrap", "systemd-nspawn", "nsenter") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        pytest.fail(
            f"the rehearsal needs root and {', '.join(missing) or 'nothing more'}: run as root after "
            "./scripts/install-system-tools.sh"
        )
    work = tmp_path_factory.mktemp("rehearsal")
    log = (work / "rehearsal.log").open("w")

    began = time.monotonic()

    def say(line: str) -> None:  # each line stamped with the seconds since the rehearsal began
        log.write(f"{time.monotonic() - began:7.1f} {line}\n")
        log.flush()

    steps: list[str] = []
    rootfs = cached_rootfs(steps)
    say("\n".join(steps))
    published = guide.publish(work / "dist", _proof(), say)
    (cache_dir() / "pip").mkdir(parents=True, exist_ok=True)
    with booted(rootfs, work / "host", [(cache_dir() / "pip", "/root/.cache/pip")]) as host, receiving() as receiver:
        ran = guide.build_host(host, published, say)
        days = {}
        if ran and all(r.passed for r in ran):
            for name in REHEARSED:
                days[name] = gamedays.rehearse(host, published, SCENARIOS[name], receiver, say)
            for day in days.values():
                gamedays.delivered(day, receiver)
        scaled = guide.scale_out(host, published, say) if days else []
        held = _sockets_held(SOCKETS) if scaled and all(r.passed for r in scaled) else None
        if held is not None:
            for name in ON_THE_FLEET:
                days[name] = gamedays.rehearse(host, published, SCENARIOS[name], receiver, say)
                gamedays.delivered(days[name], receiver)
        yield SimpleNamespace(
            host=host, published=published, ran=ran, days=days, scaled=scaled, held=held, log=work / "rehearsal.log"
        )
    log.close()


def test_the_guides_build_the_host_as_published(rehearsal: SimpleNamespace, record_property) -> None:
    """Assert every command of the deployment and monitoring guides' host sections did what the
    published page says, on the host, in page order; the first that did not is named by page and line."""
    failed = [r for r in rehearsal.ran if not r.passed]
    record_property(
        "rehearsal",
        json.dumps(
            {
                "page": "docs/deployment.md",
                "fault": "guide",
                "where": "rehearsal",
                "passed": not failed,
                "commands": [len(rehearsal.ran) - len(failed), len(rehearsal.ran)],
            }
        ),
    )
    assert rehearsal.ran, "the rehearsal ran no command of the guides"
    assert not failed, f"the guide is wrong on a production host:\n{failed[0].report}\n(log: {rehearsal.log})"


def test_the_host_scales_out_as_the_fleet_page_says(rehearsal: SimpleNamespace, record_property) -> None:
    """Assert every host command of "Several instances" did what the published page says on the host
    the game days ran on: Redis as the bus, three instances under systemd, nginx and Prometheus on
    them, a broadcast through nginx on every instance, a rolling restart, one instance taken out."""
    failed = [r for r in rehearsal.scaled if not r.passed]
    record_property(
        "rehearsal",
        json.dumps(
            {
                "page": "docs/fleet.md",
                "fault": "guide",
                "where": "rehearsal",
                "passed": bool(rehearsal.scaled) and not failed,
                "commands": [len(rehearsal.scaled) - len(failed), len(rehearsal.scaled)],
            }
        ),
    )
    assert rehearsal.scaled, f"not run: the guide did not build the host (log: {rehearsal.log})"
    assert not failed, f"the fleet page is wrong on a production host:\n{failed[0].report}\n(log: {rehearsal.log})"


SOCKETS = 1000  # more than Debian's nginx carries (766 on 2 cores), fewer than the three instances hold


def _sockets_held(size: int) -> int:
    """How many of ``size`` WebSocket clients hold a socket through the host's nginx at once."""
    clients = Fleet("ws://127.0.0.1/ws", size)
    clients.start()
    try:
        live.seconds_until(lambda: all(clients.connected), 30)
        return sum(clients.connected)
    finally:
        clients.stop()


def test_the_hosts_nginx_carries_a_thousand_sockets(rehearsal: SimpleNamespace) -> None:
    """Assert the nginx the guide sets up passes a thousand WebSockets at once to the instances: with
    Debian's own worker_connections it passed 766 on this machine's two cores, and the rest got an
    error from nginx, never the backend's 1013."""
    assert rehearsal.held is not None, f"not run: the fleet page did not pass (log: {rehearsal.log})"
    assert rehearsal.held == SOCKETS, f"nginx carried {rehearsal.held} of {SOCKETS} sockets: worker_connections?"


def test_checks_on_the_host_links_the_published_handbook(rehearsal: SimpleNamespace) -> None:
    """Assert `checks doctor` on the host, with nothing set but what the guide sets, links the runbook
    under the published address (it reads HANDBOOK_SITE_URL from /etc/backend/env)."""
    code, out = rehearsal.host.run("/srv/backend/.venv/bin/checks doctor --url http://127.0.0.1:9", timeout=30)
    assert code == 2, out
    assert f"open {guide.ADDRESS}runbooks/backend-down/?instance=127.0.0.1:9" in out, out


@pytest.mark.parametrize("name", REHEARSED + ON_THE_FLEET)
def test_runbook_on_the_rehearsal_host(rehearsal: SimpleNamespace, name: str, record_property) -> None:
    """Assert the page met its fault on the host from its alert to its Verify: the alert linked the
    published page, every command did what the page says, and the backend came back healthy."""
    day = rehearsal.days.get(name)
    assert day is not None, f"not run: the guide did not build the host (log: {rehearsal.log})"
    record_property("rehearsal", json.dumps(day.to_json()))
    failures = [s.report for s in day.steps if not s.passed]
    assert day.passed, "\n".join([*day.problems, *failures, f"(log: {rehearsal.log})"])


@pytest.mark.parametrize("name", REHEARSED + ON_THE_FLEET)
def test_no_page_fits_followed_alone_on_the_host_names_the_cause(rehearsal: SimpleNamespace, name: str) -> None:
    """Assert "No page fits", opened from the published site and followed alone on the host while the
    fault held (its systemd and settings-file steps included), printed what names the cause: the same
    patterns the laboratory's game day holds it to."""
    day = rehearsal.days.get(name)
    assert day is not None, f"not run: the guide did not build the host (log: {rehearsal.log})"
    missing = [p for p in SCENARIOS[name].triage if not re.search(p, day.triage, re.MULTILINE)]
    assert day.triage and not missing, f"{name}: nothing matching {missing} in:\n{day.triage[-4000:]}"


def test_alertmanager_delivers_a_pages_alert_with_its_link(rehearsal: SimpleNamespace) -> None:
    """Assert at least one game day's alert went all the way: pending, firing after its for:, grouped
    and delivered by Alertmanager to a receiver of the guide's alertmanager.yml, with the runbook link
    Prometheus showed (a mismatch is a problem of that game day)."""
    delivered = {n: d.delivered_seconds for n, d in rehearsal.days.items() if d.delivered_seconds is not None}
    assert delivered, f"no alert delivered by Alertmanager during the rehearsal (log: {rehearsal.log})"


def test_a_before_you_start_with_the_old_install_path_fails_naming_the_page_and_line(
    rehearsal: SimpleNamespace,
) -> None:
    """Assert the rehearsal sees the defect the first on-call engineers met: "Before you start" with
    PATH on /opt/backend (not where the guide installs) fails at the page's first `checks` command,
    named by page and line, in a fresh shell on the host."""
    html = rehearsal.published.page("runbooks/backend-down/")
    pairs, _ = paired(html, source_of("runbooks/backend-down/"))
    (before,) = [(r, b) for r, b in pairs if b.path.parent == SNIPPETS]
    first = next((r, b) for r, b in pairs if b.section == "Diagnose" and "checks doctor" in r.copy)
    mutated = Rendered(before[0].language, before[0].text.replace("/srv/backend/.venv/bin", "/opt/backend/.venv/bin"))
    assert mutated.text != before[0].text, "Before you start no longer names /srv/backend/.venv/bin"
    rehearsal.host.new_shell()
    ran = run_block(rehearsal.host, mutated, before[1], {}, lambda _: None)
    ran += run_block(rehearsal.host, first[0], first[1], {}, lambda _: None)
    failing = [r for r in ran if not r.passed]
    assert failing, "the old install path went unnoticed"
    assert failing[0].where == f"runbooks/backend-down.md:{first[1].steps[0].line}", failing[0].where
    assert "checks: command not found" in failing[0].report, failing[0].report
