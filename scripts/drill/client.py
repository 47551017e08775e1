"""What a user sees through each outage: the reference client's status page (``GET /client/``) in
headless Chromium while the drill breaks the backend for real.

Per scenario: seconds from the fault to the page showing it (``outage_shown``), seconds from the
fault to the page being live again (``live_again``), and what the page got of the broadcasts the
server acknowledged meanwhile: missed, duplicated, out of order. Connection attempts are counted by
the page and compared with the bound the client's own policy gives (``maxAttempts`` in feed.js).

    make drill                                 every scenario, after the drills: results/recovery.json
    python -m scripts.drill --quick clients    every scenario, shorter, nothing written
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from scripts import browser, live
from scripts.drill.outcome import Judged
from scripts.faults import FAULTS, Proxy, Target
from scripts.instances import running_instances

__all__ = ["SCENARIOS", "ClientResult", "Poster", "StatusPage", "account", "run"]

STATE = "() => window.feedLog && window.feed.state"


@dataclasses.dataclass
class ClientResult(Judged):
    name: str
    outage_shown_seconds: float | None = None
    live_again_seconds: float | None = None
    missed: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    acknowledged: int = 0
    attempts: int | None = None
    attempts_bound: int | None = None
    gap_shown: bool | None = None
    gone: int = 0  # broadcasts older than the replay buffer, named by the gap notice
    close_codes: list[int] = dataclasses.field(default_factory=list)
    targets: dict[str, bool] = dataclasses.field(default_factory=dict)


class StatusPage:
    """The status page in Chromium, and what it has logged."""

    def __init__(self, page: Any, url: str, wait_live: bool = True) -> None:
        self.page = page
        page.goto(f"{url}/client/", wait_until="load")
        if wait_live:
            self.wait_state("live", 15)

    def state(self) -> dict[str, Any]:
        return dict(self.page.evaluate(STATE))

    def log(self) -> dict[str, Any]:
        return dict(self.page.evaluate("() => window.feedLog"))

    def wait_state(self, name: str, timeout: float, since: float | None = None) -> float:
        """Seconds (from ``since``, else now) until the page is in state ``name``."""
        start = since if since is not None else time.monotonic()
        self.page.wait_for_function(
            f"() => window.feed && window.feed.state.name === {name!r}", timeout=timeout * 1000, polling=20
        )
        return time.monotonic() - start

    def wait_seq(self, seq: int, timeout: float) -> None:
        self.page.wait_for_function(
            f"() => window.feed && window.feed.lastSeq >= {seq}", timeout=timeout * 1000, polling=50
        )

    def shown(self) -> str:
        return str(self.page.locator("#state").inner_text())

    def policy_bound(self, window_ms: float, code: int) -> int:
        return int(
            self.page.evaluate("([w, c]) => import('./feed.js').then(m => m.maxAttempts(w, c))", [window_ms, code])
        )


class Poster(threading.Thread):
    """Broadcasts every ``pause`` s straight to the backend; keeps the sequence numbers it acknowledged."""

    def __init__(self, url: str, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url, self.pause = url, pause
        self.acked: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            n = 0
            while not self._halt.is_set():
                n += 1
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.post("/api/broadcast", json={"message": f"m{n}"})
                    if answer.status_code == 200:
                        self.acked.append(int(answer.json()["seq"]))
                self._halt.wait(self.pause)

    def stop(self) -> list[int]:
        self._halt.set()
        self.join(10)
        return self.acked


def account(result: ClientResult, page: StatusPage, acked: list[int], after: int) -> None:
    """Compare what the page received after ``after`` with what the server acknowledged."""
    if acked:
        page.wait_seq(max(acked), 15)
    log = page.log()
    seqs = [s for s in log["seqs"] if s > after]
    result.acknowledged = len(acked)
    result.missed = len(set(acked) - set(seqs))
    result.duplicated = len(seqs) - len(set(seqs))
    result.out_of_order = sum(b <= a for a, b in zip(seqs, seqs[1:], strict=False))
    result.attempts = int(page.state()["counts"]["attempts"])
    result.close_codes = sorted({s["code"] for s in log["states"] if s.get("code")})


def _exactly_once(result: ClientResult) -> dict[str, bool]:
    return {
        "0 broadcasts missed": result.missed == 0,
        "0 duplicated": result.duplicated == 0,
        "0 out of order": result.out_of_order == 0,
    }


def _server_signalled(
    page_of: Callable[..., StatusPage], tmp: Path, name: str, fault: str, shown: float
) -> ClientResult:
    """The server under the supervisor meets ``fault`` while broadcasts flow: the page must show the
    outage (within ``shown`` s), come back live, and have every acknowledged broadcast once."""
    result = ClientResult(name)
    with live.running(tmp, "supervise") as backend:
        page = page_of(backend.url)
        after = int(page.state()["lastSeq"] or 0)
        poster = Poster(backend.url)
        poster.start()
        time.sleep(0.3)  # some broadcasts live before the fault
        started = time.monotonic()
        with FAULTS[fault](Target(backend)):
            result.outage_shown_seconds = page.wait_state("reconnecting", shown, started)
        result.live_again_seconds = page.wait_state("live", 30, started)
        time.sleep(0.3)  # and some after
        account(result, page, poster.stop(), after)
    return result


def _server_killed(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """SIGKILL of the server under the supervisor: shown within 1 s, live again, every broadcast once."""
    result = _server_signalled(page_of, tmp, "server_killed", "server-killed", 5)
    shown = result.outage_shown_seconds
    result.targets = {"outage shown within 1 s": shown is not None and shown <= 1.0, **_exactly_once(result)}
    return result


def _server_drained(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """SIGTERM of the server: it drains with 1001, the page comes back soon, every broadcast once."""
    result = _server_signalled(page_of, tmp, "server_drained", "server-drained", 10)
    result.targets = {"the page saw the drain (1001)": 1001 in result.close_codes, **_exactly_once(result)}
    return result


def _server_full(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """At capacity (1013) the page backs off for longer: attempts within the policy's bound, no
    storm; live again once a slot frees."""
    result = ClientResult("server_full")
    window = 8.0 if quick else 20.0
    with live.running(tmp, "serve", ws_max_connections=1) as backend:
        with FAULTS["near-capacity"](Target(backend), share=1.0):
            fault = time.monotonic()
            page = page_of(backend.url, wait_live=False)
            result.outage_shown_seconds = page.wait_state("reconnecting", 5, fault)
            time.sleep(window)  # the page retries for the whole window; its attempts are the figure
            result.attempts = int(page.state()["counts"]["attempts"])
            result.attempts_bound = page.policy_bound(window * 1000, 1013) + 1  # + the first, refused attempt
        freed = time.monotonic()
        page.wait_state("live", 40, freed)
        result.live_again_seconds = time.monotonic() - fault
        result.close_codes = sorted({s["code"] for s in page.log()["states"] if s.get("code")})
    result.targets = {
        "the page saw 1013": 1013 in result.close_codes,
        "attempts within the policy's bound": result.attempts <= result.attempts_bound,
    }
    return result


def _server_gone(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """The backend gone for 30 s (10 s quick), then back on its address: attempts within the bound,
    live again after it returns."""
    result = ClientResult("server_gone")
    outage = 10.0 if quick else 30.0
    backend = live.start(tmp, "serve")
    try:
        page = page_of(backend.url)
        fault = time.monotonic()
        with FAULTS["supervisor-gone"](Target(backend)):
            pass  # one-shot: gone until it is started again below
        result.outage_shown_seconds = page.wait_state("reconnecting", 5, fault)
        time.sleep(max(0.0, outage - (time.monotonic() - fault)))
        result.attempts = int(page.state()["counts"]["attempts"]) - 1  # the first connection is not a retry
        result.attempts_bound = page.policy_bound(outage * 1000, 1006)
        backend = live.start(tmp, "serve", port=backend.port, data_dir=backend.data_dir)
        result.live_again_seconds = page.wait_state("live", 30, fault)
    finally:
        backend.stop()
    result.targets = {"attempts within the policy's bound": result.attempts <= result.attempts_bound}
    return result


@contextlib.contextmanager
def _proxied(tmp: Path, **settings: object) -> Iterator[tuple[live.Live, Proxy]]:
    with live.running(tmp, "serve", **settings) as backend:
        proxy = Proxy(backend.port)
        proxy.start()
        try:
            yield backend, proxy
        finally:
            proxy.close()


def _replay_exceeded(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """Cut off while more broadcasts than the replay buffer holds were posted: the page says what
    it missed, reloads its view, and has everything after the gap."""
    result = ClientResult("replay_exceeded")
    buffer, posted = 5, 20
    with _proxied(tmp, ws_replay_buffer=buffer) as (backend, proxy):
        page = page_of(proxy.url)
        fault = time.monotonic()
        with FAULTS["connections-reset"](Target(backend, proxy)):
            result.outage_shown_seconds = page.wait_state("reconnecting", 5, fault)
            with httpx.Client(base_url=backend.url, timeout=5) as client:
                acked = [
                    int(client.post("/api/broadcast", json={"message": f"m{n}"}).json()["seq"]) for n in range(posted)
                ]
        result.live_again_seconds = page.wait_state("live", 30, fault)
        page.wait_seq(max(acked), 15)
        log = page.log()
        result.gap_shown = "Missed" in page.page.locator("#gap").inner_text() and log["reloads"] == 1
        kept = acked[-buffer:]
        result.missed = len(set(kept) - set(log["seqs"]))
        result.acknowledged = len(acked)
        declared = result.gone = sum(g["to"] - g["from"] + 1 for g in log["gaps"])
        result.attempts = int(page.state()["counts"]["attempts"])
    result.targets = {
        "the gap is shown and the view reloaded": bool(result.gap_shown),
        "every broadcast still held was delivered": result.missed == 0,
        "the gap names exactly what is gone": declared == posted - buffer,
    }
    return result


def _half_open(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """A partition that swallows packets without closing anything: the page's heartbeat finds the
    dead socket, replaces it once the path is back, and misses nothing."""
    result = ClientResult("half_open")
    with _proxied(tmp) as (backend, proxy):
        page = page_of(proxy.url)
        after = int(page.state()["lastSeq"] or 0)
        poster = Poster(backend.url, pause=0.2)
        poster.start()
        fault = time.monotonic()
        with FAULTS["partition"](Target(backend, proxy)):
            result.outage_shown_seconds = page.wait_state("reconnecting", 30, fault)
        result.live_again_seconds = page.wait_state("live", 30, fault)
        time.sleep(0.3)
        account(result, page, poster.stop(), after)
        policy = page.page.evaluate("() => import('./feed.js').then(m => m.POLICY)")
    bound = (2 * policy["heartbeatIntervalMs"] + policy["heartbeatTimeoutMs"]) / 1000
    result.targets = {
        f"found within {bound:g} s (two heartbeats and a timeout)": result.outage_shown_seconds <= bound,
        **_exactly_once(result),
    }
    return result


def _instance_killed(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """Three instances behind nginx as the guide runs them: the one holding the page's socket dies
    whole. The page shows it, is live again on another instance, and has every broadcast
    acknowledged through nginx before, during and after exactly once."""
    result = ClientResult("instance_killed")
    with running_instances(tmp) as fleet:
        page = page_of(fleet.url)
        after = int(page.state()["lastSeq"] or 0)
        (holding,) = [m for m in fleet.members if m.metric("backend_ws_connections_active") == 1]
        poster = Poster(fleet.url)
        poster.start()
        live.wait_for(lambda: len(poster.acked) >= 5, 10, "broadcasts before the fault")
        fault = time.monotonic()
        with FAULTS["instance-killed"](Target(holding)):  # one-shot: dead from here on
            pass
        result.outage_shown_seconds = page.wait_state("reconnecting", 5, fault)
        result.live_again_seconds = page.wait_state("live", 30, fault)
        before = len(poster.acked)
        live.wait_for(lambda: len(poster.acked) >= before + 5, 10, "broadcasts after the page is back")
        account(result, page, poster.stop(), after)
        moved = [m.metric("backend_ws_connections_active") for m in fleet.members if m is not holding]
    result.targets = {
        "live again on another instance": result.live_again_seconds is not None and sorted(moved) == [0, 1],
        **_exactly_once(result),
    }
    return result


def _bus_restarted(page_of: Callable[..., StatusPage], tmp: Path, quick: bool) -> ClientResult:
    """Three instances behind nginx; their Redis killed and started again empty, as the guide runs
    it. The page sees its socket closed (1012), says the server lost its message history, reloads
    its view, and has every broadcast acknowledged after the restart exactly once."""
    result = ClientResult("bus_restarted")
    with running_instances(tmp) as fleet:
        page = page_of(fleet.url)
        fault = time.monotonic()
        with FAULTS["bus-down"](Target(fleet.members[0], bus=fleet.bus)) as lift:
            lift()  # back at once, and empty: a new numbering
        result.outage_shown_seconds = page.wait_state("reconnecting", 10, fault)
        result.live_again_seconds = page.wait_state("live", 30, fault)
        poster = Poster(fleet.url)
        poster.start()
        live.wait_for(lambda: len(poster.acked) >= 10, 15, "broadcasts after the restart")
        account(result, page, poster.stop(), 0)
        result.gap_shown = "lost its message history" in page.page.locator("#gap").inner_text()
        result.gap_shown = result.gap_shown and page.log()["reloads"] == 1
    result.targets = {
        "the page said the history was lost and reloaded its view": bool(result.gap_shown),
        "the page saw the new numbering's close (1012)": 1012 in result.close_codes,
        **_exactly_once(result),
    }
    return result


SCENARIOS: dict[str, Callable[..., ClientResult]] = {  # in the order of results.CLIENT_SCENARIOS
    "server_killed": _server_killed,
    "server_drained": _server_drained,
    "server_full": _server_full,
    "server_gone": _server_gone,
    "replay_exceeded": _replay_exceeded,
    "half_open": _half_open,
    "instance_killed": _instance_killed,
    "bus_restarted": _bus_restarted,
}


class _Pages:
    """Opens each scenario's status page in a fresh browser context (no state carried over)."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        self.contexts: list[Any] = []

    def browser_page(self) -> Any:
        context = self.chromium.new_context()
        self.contexts.append(context)
        return context.new_page()

    def __call__(self, url: str, wait_live: bool = True) -> StatusPage:
        return StatusPage(self.browser_page(), url, wait_live)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def run(tmp: Path, names: list[str] | None = None, quick: bool = False) -> list[ClientResult]:
    """Each scenario (all by default) with its own backend under ``tmp``, in one Chromium."""
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as pw:
        chromium = browser.launch(pw)
        try:
            for name in names or list(SCENARIOS):
                pages = _Pages(chromium)
                try:
                    directory = tmp / name
                    directory.mkdir(parents=True, exist_ok=True)
                    found.append(SCENARIOS[name](pages, directory, quick))
                finally:
                    pages.close()
        finally:
            chromium.close()
    return found
