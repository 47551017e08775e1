"""The reference client's status page (``GET /client/``) in headless Chromium through every outage
the drills make: the same scenarios ``make drill`` records (scripts/drill/client.py), held to their
targets here. The page is what a user of the backend would have open."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scripts import live
from scripts.drill import client
from scripts.drill.client import ClientResult
from tests.support.browser import launch

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientResult]:
    """Every scenario once, full length (the backend gone for 30 s)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launch(pw).close()  # a missing browser fails here, loudly, not inside the drill
    return {r.name: r for r in client.run(tmp_path_factory.mktemp("clients"))}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(client.SCENARIOS))
def test_client_scenario_meets_its_targets(outcomes: dict[str, ClientResult], name: str) -> None:
    """Assert the page met every target of the scenario (see each target's words)."""
    result = outcomes[name]
    missed = [target for target, met in result.targets.items() if not met]
    assert not missed, f"{name}: {missed}; {result.to_json()}"


def test_server_kill_is_shown_within_a_second_and_nothing_is_lost(outcomes: dict[str, ClientResult]) -> None:
    """Assert the SIGKILL scenario's figures: shown within 1 s, live again, every acknowledged broadcast once."""
    r = outcomes["server_killed"]
    assert r.outage_shown_seconds is not None and r.outage_shown_seconds <= 1.0
    assert r.live_again_seconds is not None and r.acknowledged > 5
    assert (r.missed, r.duplicated, r.out_of_order) == (0, 0, 0)


def test_bounded_attempts_while_gone_and_while_full(outcomes: dict[str, ClientResult]) -> None:
    """Assert attempts during 30 s without a backend, and against a full one, stay within the policy."""
    for name in ("server_gone", "server_full"):
        r = outcomes[name]
        assert r.attempts is not None and r.attempts_bound is not None and 1 <= r.attempts <= r.attempts_bound, r
    assert outcomes["server_full"].attempts < outcomes["server_gone"].attempts


def test_status_page_is_served_without_a_cdn(tmp_path: Path) -> None:
    """Assert /client/ and its module are served by the backend with the right types, and nothing
    on the page loads from another host."""
    with live.running(tmp_path, "serve") as backend:
        page = httpx.get(f"{backend.url}/client/", timeout=5)
        module = httpx.get(f"{backend.url}/client/feed.js", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text and "export class Feed" in module.text
