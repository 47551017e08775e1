"""``make publish HANDBOOK_SITE_URL=...`` on this checkout, as the README and the guide write it, for
an address that is not the default: the proof runs (or is taken from this checkout's own run), both
archives are written from it, nginx serves the unpacked site with the guide's handbook.conf (the
guide's commands themselves run on the rehearsal host), every alert's link and doctor's link resolve
there, and the offline bundle's search works from ``file://`` in Chromium with nothing leaving the
machine.

The proof is the real one (every page, every game day): this module takes minutes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

from checks.routing import DEFAULT_SITE_URL
from scripts import publish, results
from scripts.live import free_port
from scripts.nginx_server import running_nginx
from tests.support import REPO
from tests.support.browser import launch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

HANDBOOK_CONF = REPO / "docs" / "deployment" / "handbook.conf"


def _make_publish(address: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`make publish HANDBOOK_SITE_URL=ADDRESS`, the command the README and the deployment guide give,
    into ``out``. Under `make test` ($HANDBOOK_PROOF set) make passes on the proof this checkout's
    own run wrote minutes before instead of proving every page a second time."""
    return subprocess.run(
        ["make", "--no-print-directory", "publish", f"HANDBOOK_SITE_URL={address}", f"DIST={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """What `make publish HANDBOOK_SITE_URL=http://127.0.0.1:PORT/` leaves in its output directory,
    with the port nginx will serve it on."""
    port = free_port()
    out = tmp_path_factory.mktemp("dist")
    address = f"http://127.0.0.1:{port}/"
    assert address != DEFAULT_SITE_URL
    done = _make_publish(address, out)
    assert done.returncode == 0, f"make publish failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    summary = json.loads(done.stdout[done.stdout.index("\n{") + 1 :])
    version = results.version()
    return SimpleNamespace(
        out=out,
        port=port,
        address=address,
        summary=summary,
        version=version,
        site=out / f"handbook-{version}-site.tar.gz",
        offline=out / f"handbook-{version}-offline.zip",
        proof=out / f"handbook-{version}-proof.json",
    )


def test_make_publish_for_the_readmes_address_links_it_everywhere(tmp_path: Path) -> None:
    """Assert `make publish HANDBOOK_SITE_URL=https://handbook.example/`, exactly as the README writes
    it, passes and builds the site for that address: its rules, its pages' canonical links."""
    done = _make_publish("https://handbook.example/", tmp_path)
    assert done.returncode == 0, f"make publish failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    (archive,) = tmp_path.glob("handbook-*-site.tar.gz")
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        rules = tar.extractfile(f"{top}/monitoring/alerts.rules.yml").read().decode()
        page = tar.extractfile(f"{top}/runbooks/backend-down/index.html").read().decode()
    assert "runbook_url: https://handbook.example/runbooks/backend-down/?alertname=BackendDown" in rules
    assert 'href="https://handbook.example/runbooks/backend-down/"' in page


def test_publish_writes_both_archives_carrying_this_runs_proof(published: SimpleNamespace) -> None:
    """Assert the archives exist, every runbook in them says verified with the proof run's commit, which
    is this checkout's, and every page's footer names the version and commit."""
    head = results.commit()
    proof = json.loads(published.proof.read_text())
    assert proof["commit"] == head and published.summary["commit"] == head
    assert proof["pages"] and proof["gamedays"], "the proof ran no pages or no game days"
    top = f"handbook-{published.version}"
    with tarfile.open(published.site) as tar:
        names = set(tar.getnames())
        runbooks = sorted(
            n
            for n in names
            if n.startswith(f"{top}/runbooks/") and n.endswith("/index.html") and n != f"{top}/runbooks/index.html"
        )
        assert runbooks, names
        for name in runbooks:
            page = tar.extractfile(name).read().decode()
            assert "Diagnostics verified" in page and f"commit {head[:7]}" in page, name
            assert "STALE" not in page and "FAILED" not in page, name
            assert f"{published.version} · commit {head[:12]}" in page, name
    with zipfile.ZipFile(published.offline) as bundle:
        assert f"{top}-offline/index.html" in bundle.namelist()
        assert f"{top}-offline/search/search_index.js" in bundle.namelist()


@pytest.fixture(scope="module")
def served(published: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site archive unpacked behind nginx with the guide's handbook.conf (its port and root
    changed, nothing else). The guide's own commands for this run on the rehearsal host (tests/rehearsal)."""
    unpacked = tmp_path_factory.mktemp("srv-handbook")
    with tarfile.open(published.site) as tar:
        tar.extractall(unpacked, filter="data")
    (root,) = unpacked.iterdir()
    tmp = tmp_path_factory.mktemp("nginx-handbook")
    conf = HANDBOOK_CONF.read_text().replace("listen 80;", f"listen 127.0.0.1:{published.port};")
    conf = conf.replace("root /srv/handbook;", f"root {root};")
    assert str(published.port) in conf and str(root) in conf, "the guide's handbook.conf moved; update this test"
    with running_nginx(tmp, conf, published.address):
        yield published.address


def test_every_alert_link_and_doctors_link_resolve_on_the_published_site(served: str, start_backend) -> None:
    """Assert the published rules' runbook_urls (this address, the alert's query) and doctor's first
    link, with HANDBOOK_SITE_URL set as the guide says, are pages nginx serves."""
    rules = yaml.safe_load(httpx.get(f"{served}monitoring/alerts.rules.yml", timeout=10).text)
    links = [r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"]]
    assert links and all(link.startswith(f"{served}runbooks/") for link in links), links
    for link in links:
        page = link.split("?")[0]
        assert httpx.get(page, timeout=10).status_code == 200, link
        assert "?alertname=" in link and "&instance={{ $labels.instance | urlquery }}" in link, link
    backend = start_backend()
    backend.fault("db", unavailable=True)
    done = subprocess.run(
        [sys.executable, "-m", "checks", "doctor", "--url", backend.url, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HANDBOOK_SITE_URL": served},
    )
    report = json.loads(done.stdout)
    first = report["first_runbook_url"]
    assert first.startswith(f"{served}runbooks/{report['first_runbook']}/?instance=127.0.0.1:"), first
    assert httpx.get(first, timeout=10).status_code == 200


def test_offline_bundle_searches_from_file_with_no_request_off_the_machine(
    published: SimpleNamespace, tmp_path: Path
) -> None:
    """Assert the unzipped bundle, opened from disk, finds a runbook by its alert's name, loads only
    local files and logs no console error."""
    from playwright.sync_api import sync_playwright

    with zipfile.ZipFile(published.offline) as bundle:
        bundle.extractall(tmp_path)
    index = tmp_path / f"handbook-{published.version}-offline" / "index.html"
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.as_uri(), wait_until="load")
        page.keyboard.press("/")
        page.locator("input.md-search__input").press_sequentially("CacheDiskFailing", delay=20)
        hit = page.locator(".md-search-result__item a[href*='cache-disk-failure']").first
        hit.wait_for(timeout=15_000)
        assert "Cache disk failure" in hit.inner_text()
        hit.click()
        page.wait_for_load_state("load")
        assert page.url.startswith("file://") and "cache-disk-failure.html" in page.url, page.url
        assert "Diagnostics verified" in page.content()
        browser.close()
    assert errors == [], errors
    outside = [u for u in requests if not u.startswith(("file://", "data:", "blob:"))]
    assert outside == [], f"the offline bundle asked the network for: {outside}"


def test_publish_refuses_when_a_page_failed_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert a proof with a failed block and a failed game day publishes nothing and names both pages."""

    def failed_proof(proof_dir: Path) -> tuple[int, float]:
        results.write(
            proof_dir / results.TEST_RUNS,
            {},
            {
                "pages": {
                    "runbooks/memory-high.md": {"passed": 3, "failed": 1, "skipped": 0, "total": 4},
                    "docs/index.md": {"passed": 2, "failed": 0, "skipped": 0, "total": 2},
                },
                "gamedays": {
                    "runbooks/backend-down.md::hung-server": {
                        "page": "runbooks/backend-down.md",
                        "fault": "hung-server",
                        "passed": False,
                    }
                },
            },
            history=0,
        )
        return 1, 0.1

    monkeypatch.setattr(publish, "_prove", failed_proof)
    assert publish.main(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "runbooks/memory-high.md (3 of 4 commands passed)" in err
    assert "runbooks/backend-down.md (game day hung-server failed)" in err and "docs/index.md" not in err
    assert list(tmp_path.iterdir()) == []
