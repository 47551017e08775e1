"""The built site in a real browser (Debian's headless Chromium driven by Playwright): a runbook renders
with its notice, the copy button gives the bare command, search finds a page by its alert name,
the console stays clean, and no request leaves loopback."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pages import Rendered
from scripts.rehearsal.gamedays import from_alert
from tests.support import REPO
from tests.support.browser import launch
from tests.support.fakes import serving


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser") / "site"
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    subprocess.run(
        [mkdocs, "build", "--strict", "-q", "-d", str(out)],
        cwd=REPO,
        check=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    with serve(out) as url:
        yield url


@pytest.mark.browser
def test_runbook_page_in_a_real_browser(site: str, tmp_path: Path) -> None:
    """Assert render, verified notice, safety label, bare-command copy, search by alert, clean
    console, loopback only."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{site}/runbooks/backend-down/", wait_until="networkidle")

        assert page.locator("h1").first.inner_text().rstrip("¶") == "Backend down"
        notices = " ".join(page.locator("details, .admonition").all_inner_texts())
        # whatever this checkout's last run says (the states themselves: test_failed_and_stale_proofs_...)
        assert any(s in notices for s in ("Proven under fault", "under its fault", "Game day FAILED", "proof STALE"))
        assert any(
            s in notices
            for s in ("Diagnostics verified", "Diagnostics not run", "Diagnostics STALE", "Diagnostics FAILED")
        )
        assert page.locator(".safety-destructive").first.is_visible()
        page.screenshot(path=str(tmp_path / "runbook.png"), full_page=False)

        first_block = page.locator(".language-console").first
        first_block.hover()
        first_block.locator("button.md-code__button, button.md-clipboard").first.click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == "checks doctor"

        page.keyboard.press("/")  # the site's search shortcut, as a reader would use it
        page.locator("input.md-search__input").press_sequentially("CacheDiskFailing", delay=20)
        first_hit = page.locator(".md-search-result__item").first
        first_hit.wait_for(timeout=10_000)
        assert "Cache disk failure" in first_hit.inner_text()
        browser.close()
    assert errors == [], errors
    outside = [u for u in requests if not u.startswith((site, "data:", "blob:"))]
    assert outside == [], f"requests left loopback: {outside}"


@pytest.mark.browser
def test_baselines_charts_render_in_a_real_browser(site: str, tmp_path: Path) -> None:
    """Assert every chart on the baselines page is drawn: a visible SVG with a title, marks inside
    its box, and the figures tables beside them; the page is saved as a screenshot for review."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{site}/baselines/", wait_until="networkidle")
        charts = page.locator("svg[role=img]")
        titles = [charts.nth(i).get_attribute("aria-label") or "" for i in range(charts.count())]
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 50, titles[i]
            marks = charts.nth(i).locator("rect, polyline")
            assert marks.count() >= 1, titles[i]
            inside = page.evaluate(
                "(svg) => [...svg.querySelectorAll('rect, polyline')].every(el => {"
                " const b = el.getBBox(); const v = svg.viewBox.baseVal;"
                " return b.x >= 0 && b.y >= 0 && b.x + b.width <= v.width + 1"
                " && b.y + b.height <= v.height + 1; })",
                charts.nth(i).element_handle(),
            )
            assert inside, f"{titles[i]}: a mark is drawn outside the chart"
        page.screenshot(path=str(tmp_path / "baselines.png"), full_page=True)
        browser.close()
    expected = {
        "api.mixed latency percentiles, log scale",
        "API p99 by offered rate (capacity search)",
        "requests per second under wrk, by endpoint",
        "server RSS during the soak, after warm-up",
        "api.mixed.p99_seconds across runs",
    }
    assert expected <= set(titles), titles
    outside = [u for u in requests if not u.startswith((site, "data:", "blob:"))]
    assert outside == [], f"requests left loopback (an emoji from a CDN?): {outside}"


RUNBOOK_NAMES = sorted(p.stem for p in (REPO / "runbooks").glob("*.md") if p.name != "index.md")
FIRST_COMMAND = """() => {
  const diagnose = document.getElementById('diagnose');
  for (let n = diagnose.nextElementSibling; n; n = n.nextElementSibling) {
    const pre = n.matches('pre') ? n : n.querySelector('pre');
    if (pre) return pre.getBoundingClientRect().top;
  }
  return -1;
}"""


@contextlib.contextmanager
def _served_over(results: Path, work: Path) -> Iterator[str]:
    """The real site built over the crafted ``results`` directory, served on loopback."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config = load_config(str(REPO / "mkdocs.yml"), site_dir=str(work / "site"))
    config.plugins["handbook"].config["results"] = str(results)
    build(config)
    with serve(work / "site") as url:
        yield url


@pytest.fixture(scope="module")
def proven_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site as `make publish` would build it once every page was proven: each runbook's diagnostics
    and game days passed (crafted results; the notices then fold to one line)."""
    from scripts.gameday.scenarios import SCENARIOS

    results = tmp_path_factory.mktemp("proven-results")
    pages = {f"runbooks/{name}.md": {"passed": 5, "failed": 0, "skipped": 1, "total": 6} for name in RUNBOOK_NAMES}
    days = {
        f"runbooks/{s.runbook}.md::{n}": {
            "page": f"runbooks/{s.runbook}.md",
            "fault": n,
            "passed": True,
            "routed": True,
            "doctor_first": s.runbook,
            "detected_seconds": 1.2,
            "mitigated_seconds": 2.3,
            "stand_in": "",
            "phases": {"diagnose": [2, 2]},
        }
        for n, s in SCENARIOS.items()
    }
    now = dt.datetime.now(dt.UTC).isoformat()
    (results / "test-runs.json").write_text(
        json.dumps({"generated_at": now, "commit": "abc1234", "machine": {}, "pages": pages, "gamedays": days})
    )
    with _served_over(results, tmp_path_factory.mktemp("proven")) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_first_diagnose_command_is_on_the_first_screen(proven_site: str, width: int, height: int) -> None:
    """Assert every proven runbook shows its first Diagnose command without scrolling, on a laptop and
    on a phone."""
    from playwright.sync_api import sync_playwright

    below = {}
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": width, "height": height})
        for name in RUNBOOK_NAMES:
            page.goto(f"{proven_site}/runbooks/{name}/", wait_until="load")
            top = page.evaluate(FIRST_COMMAND)
            if not 0 <= top < height - 20:
                below[name] = top
        browser.close()
    assert not below, f"first command below the fold at {width}x{height} (its top, in px): {below}"


@pytest.mark.browser
def test_a_runbook_opened_from_an_alert_fills_in_its_backend(site: str) -> None:
    """Assert `?instance=backend-3.example:8080&alertname=BackendDown` (what Alertmanager's link
    carries) sets BACKEND_URL and BACKEND_WS_URL in the page and in the copy button, marked as from
    the alert, and that the reader can go back to the page's defaults."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(
            f"{site}/runbooks/backend-down/?alertname=BackendDown&instance=backend-3.example%3A8080",
            wait_until="networkidle",
        )
        code = page.locator("#before-you-start ~ details pre > code").first
        text = code.inner_text()
        assert "export BACKEND_URL=http://backend-3.example:8080 BACKEND_WS_URL=ws://backend-3.example:8080/ws" in text
        assert "127.0.0.1:8080" not in text
        note = page.locator(".alert-context").first
        assert note.is_visible() and "From the alert BackendDown" in note.inner_text()
        assert "(from the alert)" in note.inner_text()
        code.hover()
        page.locator("#before-you-start ~ details").first.locator(
            "button.md-code__button, button.md-clipboard"
        ).first.click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "export BACKEND_URL=http://backend-3.example:8080 " in copied, copied
        page.get_by_text("Use the page's defaults instead").click()
        defaults = code.inner_text()
        assert "export BACKEND_URL=http://127.0.0.1:8080 " in defaults
        assert page.locator(".alert-context").count() == 0 and "instance=" not in page.url
        browser.close()
    assert errors == [], errors
    # the rehearsal's reader copies the block as this script fills it in
    link = f"{site}/runbooks/backend-down/?alertname=BackendDown&instance=backend-3.example%3A8080"
    assert from_alert(Rendered("console", defaults), link).text == text


HOSTILE = [
    "backend-3.example:8080;rm -rf ~",
    "$(id):8080",
    "backend 3:8080",
    "backend-3:8080\nexport X=1",
    "'backend-3':8080",
    "backend-3:99999",
    "backend-3",
    "http://backend-3:8080",
]


@pytest.mark.browser
def test_hostile_link_values_are_refused_and_leave_the_page_unchanged(site: str) -> None:
    """Assert an instance that is not a plain host:port (quotes, `$(...)`, spaces, newlines, a scheme,
    no port) changes nothing in the commands and says so visibly; a bad alertname refuses the link too."""
    import urllib.parse

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(f"{site}/runbooks/backend-down/", wait_until="load")
        pristine = page.locator("#before-you-start ~ details pre > code").first.inner_text()
        queries = [{"instance": v, "alertname": "BackendDown"} for v in HOSTILE]
        queries.append({"instance": "backend-3:8080", "alertname": "Backend$(id)"})
        for query in queries:
            page.goto(f"{site}/runbooks/backend-down/?{urllib.parse.urlencode(query)}", wait_until="load")
            assert page.locator("#before-you-start ~ details pre > code").first.inner_text() == pristine, query
            refused = page.locator(".alert-context")
            assert refused.count() == 1 and "Link parameters refused" in refused.inner_text(), query
            assert query["instance"] not in refused.inner_text(), "a refused value must not be echoed"
        browser.close()


@pytest.fixture(scope="module")
def judged_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site over crafted results: one runbook failed, one proven 60 days ago, one proven now."""
    now = dt.datetime.now(dt.UTC)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()

    def row(passed: int, days: float) -> dict:
        return {
            "passed": passed,
            "failed": 4 - passed,
            "skipped": 0,
            "total": 4,
            "generated_at": (now - dt.timedelta(days=days)).isoformat(),
            "commit": head,
        }

    results = tmp_path_factory.mktemp("judged-results")
    (results / "test-runs.json").write_text(
        json.dumps(
            {
                "generated_at": now.isoformat(),
                "commit": head,
                "machine": {},
                "pages": {
                    "runbooks/memory-high.md": row(3, 0),
                    "runbooks/backend-down.md": row(4, 60),
                    "runbooks/network-partition.md": row(4, 0),
                },
            }
        )
    )
    with _served_over(results, tmp_path_factory.mktemp("judged")) as url:
        yield url


@pytest.mark.browser
def test_failed_and_stale_proofs_show_red_and_amber(judged_site: str) -> None:
    """Assert a failed page shows a red notice, a stale one an amber notice saying why, a fresh one
    green; the proof status page lists them oldest first."""
    from playwright.sync_api import sync_playwright

    def colour(page, selector: str) -> str:
        return page.eval_on_selector(
            selector, "el => getComputedStyle(el).borderLeftColor || getComputedStyle(el).borderColor"
        )

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(f"{judged_site}/runbooks/memory-high/", wait_until="load")
        failed = page.locator(".admonition.failure, details.failure").filter(has_text="Diagnostics FAILED")
        assert failed.count() == 1 and failed.first.is_visible()
        red = colour(page, ".failure")
        page.goto(f"{judged_site}/runbooks/backend-down/", wait_until="load")
        stale = page.locator(".admonition.warning").filter(has_text="Diagnostics STALE")
        assert stale.count() == 1 and "proven 60 days ago (limit 30)" in stale.inner_text()
        amber = colour(page, ".admonition.warning")
        page.goto(f"{judged_site}/runbooks/network-partition/", wait_until="load")
        assert (
            page.locator(".admonition.success, details.success").filter(has_text="Diagnostics verified: 4 of 4").count()
            == 1
        )
        assert red != amber, (red, amber)
        page.goto(f"{judged_site}/proof/", wait_until="load")
        pages = page.eval_on_selector_all("table tbody tr td:first-child", "tds => tds.map(td => td.innerText)")
        proven = [
            p
            for p in pages
            if p in ("runbooks/backend-down.md", "runbooks/memory-high.md", "runbooks/network-partition.md")
        ]
        assert proven[0] == "runbooks/backend-down.md", pages
        browser.close()


@pytest.mark.browser
def test_every_copy_button_gives_what_the_rehearsal_runs(site: str) -> None:
    """Assert, for every code block of a runbook and of the deployment guide, that the text its copy
    button puts on the clipboard in Chromium is :attr:`pages.Rendered.copy` of the served HTML: the
    rehearsal runs exactly what the reader would paste."""
    import httpx
    from playwright.sync_api import sync_playwright

    from pages import rendered_blocks

    with sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        for path in ("runbooks/backend-down/", "deployment/"):
            expected = [b.copy for b in rendered_blocks(httpx.get(f"{site}/{path}", timeout=10).text)]
            page.goto(f"{site}/{path}", wait_until="networkidle")
            blocks = page.locator("div.highlight")
            assert blocks.count() == len(expected), (path, blocks.count(), len(expected))
            for i in range(blocks.count()):
                block = blocks.nth(i)
                if not block.is_visible():  # inside a closed <details>: open it as the reader would
                    block.evaluate("b => b.closest('details').open = true")
                block.hover()
                block.locator("button.md-code__button, button.md-clipboard").first.click()
                assert page.evaluate("navigator.clipboard.readText()") == expected[i], (path, i)
        browser.close()
