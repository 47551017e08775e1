"""The built site in a real browser (Debian's headless Chromium driven by Playwright): a runbook renders
with its notice, the copy button gives the bare command, search finds a page by its alert name,
the console stays clean, and no request leaves loopback."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import serving
from tests.pages import REPO

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"]


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
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser test needs Debian's chromium. "
                    "`make test` installs it as root (scripts/install-system-tools.sh); install it and rerun.")
    out = tmp_path_factory.mktemp("browser") / "site"
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(out)], cwd=REPO, check=True, timeout=120,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    with serve(out) as url:
        yield url


@pytest.mark.browser
def test_runbook_page_in_a_real_browser(site: str, tmp_path: Path) -> None:
    """Assert render, verified notice, safety label, bare-command copy, search by alert, clean console, loopback only."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{site}/runbooks/backend-down/", wait_until="networkidle")

        assert page.locator("h1").first.inner_text().rstrip("¶") == "Backend down"
        notices = " ".join(page.locator("details, .admonition").all_inner_texts())
        assert "Proven under fault" in notices or "under its fault" in notices or "Game day FAILED" in notices
        assert "Diagnostics" in notices and ("verified" in notices or "not run" in notices.lower())
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
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
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
            inside = page.evaluate("(svg) => [...svg.querySelectorAll('rect, polyline')].every(el => {"
                                   " const b = el.getBBox(); const v = svg.viewBox.baseVal;"
                                   " return b.x >= 0 && b.y >= 0 && b.x + b.width <= v.width + 1"
                                   " && b.y + b.height <= v.height + 1; })", charts.nth(i).element_handle())
            assert inside, f"{titles[i]}: a mark is drawn outside the chart"
        page.screenshot(path=str(tmp_path / "baselines.png"), full_page=True)
        browser.close()
    expected = {"api.mixed latency percentiles, log scale", "API p99 by offered rate (capacity search)",
                "requests per second under wrk, by endpoint", "server RSS during the soak, after warm-up",
                "api.mixed.p99_seconds across runs"}
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


@pytest.fixture(scope="module")
def proven_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site as `make publish` would build it once every page was proven: each runbook's diagnostics
    and game days passed (crafted results; the notices then fold to one line)."""
    import json

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from scripts.gameday.scenarios import SCENARIOS

    results = tmp_path_factory.mktemp("proven-results")
    pages = {f"runbooks/{name}.md": {"passed": 5, "failed": 0, "skipped": 1, "total": 6} for name in RUNBOOK_NAMES}
    days = {f"runbooks/{s.runbook}.md::{n}": {
        "page": f"runbooks/{s.runbook}.md", "fault": n, "passed": True, "routed": True, "doctor_first": s.runbook,
        "detected_seconds": 1.2, "mitigated_seconds": 2.3, "stand_in": "", "phases": {"diagnose": [2, 2]}}
        for n, s in SCENARIOS.items()}
    (results / "test-runs.json").write_text(json.dumps({"generated_at": "2026-11-27T10:00:00+00:00",
                                                        "commit": "abc1234", "machine": {}, "pages": pages,
                                                        "gamedays": days}))
    out = tmp_path_factory.mktemp("proven") / "site"
    config = load_config(str(REPO / "mkdocs.yml"), site_dir=str(out))
    config.plugins["handbook"].config["results"] = str(results)
    build(config)
    with serve(out) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_first_diagnose_command_is_on_the_first_screen(proven_site: str, width: int, height: int) -> None:
    """Assert every proven runbook shows its first Diagnose command without scrolling, on a laptop and
    on a phone."""
    from playwright.sync_api import sync_playwright

    below = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        for name in RUNBOOK_NAMES:
            page.goto(f"{proven_site}/runbooks/{name}/", wait_until="load")
            top = page.evaluate(FIRST_COMMAND)
            if not 0 <= top < height - 20:
                below[name] = top
        browser.close()
    assert not below, f"first command below the fold at {width}x{height} (its top, in px): {below}"
