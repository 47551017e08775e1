"""The generated alert rules: up to date, valid for promtool, tested by promtool, consistent with the
runbooks and the backend's real metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checks.routing import DEFAULT_SITE_URL
from checks.thresholds import load as load_thresholds
from docsite.markdown import front_matter
from scripts.alert_rules import RULES, TESTS
from scripts.live import Live, running
from scripts.redis_server import RedisServer
from tests.support.tools import require

REPO = Path(__file__).resolve().parents[2]
SEVERITIES = {"critical", "warning"}
RUNBOOKS = {p.stem: p for p in (REPO / "runbooks").glob("*.md") if p.name != "index.md"}


def rules() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"][0]["rules"]


def test_regenerating_changes_nothing() -> None:
    """Assert the committed rule and test files are exactly what the generator makes from the thresholds."""
    done = subprocess.run(
        [sys.executable, "-m", "scripts.alert_rules", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_promtool_checks_the_rules() -> None:
    """Assert promtool accepts the rule file and counts one rule per alerting threshold."""
    done = subprocess.run(
        [require("promtool", "prometheus"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerting = [t for t in load_thresholds().values() if t.alert]
    assert f"SUCCESS: {len(alerting)} rules found" in done.stdout


def test_promtool_unit_tests_pass_and_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """Assert the pending/firing tests pass, and that changing one expected label makes promtool fail."""
    promtool = require("promtool", "prometheus")
    done = subprocess.run([promtool, "test", "rules", str(TESTS)], capture_output=True, text=True, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(RULES, tmp_path / RULES.name)
    text = TESTS.read_text()
    mutated = text.replace("severity: critical", "severity: warning", 1)
    assert mutated != text
    (tmp_path / TESTS.name).write_text(mutated)
    done = subprocess.run([promtool, "test", "rules", TESTS.name], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "FAILED" in done.stdout + done.stderr


def test_every_alert_has_for_severity_annotations_and_a_runbook_url() -> None:
    """Assert each rule's for, severity, summary with its value, description, and runbook_url under the site."""
    base = DEFAULT_SITE_URL
    for rule in rules():
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        notes = rule["annotations"]
        assert "$value" in notes["summary"] and notes["description"]
        page, _, query = notes["runbook_url"].partition("?")
        assert page.startswith(f"{base}runbooks/") and page.endswith("/"), rule["alert"]
        assert query == f"alertname={rule['alert']}&instance={{{{ $labels.instance | urlquery }}}}", rule["alert"]


def test_every_alert_has_a_runbook_that_names_it_and_every_runbook_names_an_alert() -> None:
    """Assert alert ↔ runbook: the runbook_url's page lists the alert, and each page lists a real
    alert or is a symptom."""
    alerts = {
        rule["alert"]: rule["annotations"]["runbook_url"].split("?")[0].rstrip("/").rsplit("/", 1)[1]
        for rule in rules()
    }
    for alert, slug in alerts.items():
        assert slug in RUNBOOKS, f"{alert}: no runbooks/{slug}.md"
        assert alert in (front_matter(RUNBOOKS[slug].read_text()).get("alerts") or []), (
            f"runbooks/{slug}.md does not list {alert}"
        )
    for slug, page in RUNBOOKS.items():
        meta = front_matter(page.read_text())
        named = meta.get("alerts") or []
        assert named or meta.get("symptom") is True, f"runbooks/{slug}.md names no alert and is not a symptom page"
        assert set(named) <= alerts.keys(), f"runbooks/{slug}.md names unknown alerts {set(named) - alerts.keys()}"


def test_every_runbook_url_resolves_to_a_built_page(tmp_path: Path) -> None:
    """Assert each runbook_url, taken relative to the site URL, is a page of the strictly built site."""
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    subprocess.run(
        [mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=REPO, check=True, capture_output=True
    )
    for rule in rules():
        relative = rule["annotations"]["runbook_url"].split("?")[0].removeprefix(DEFAULT_SITE_URL)
        assert (tmp_path / "site" / relative / "index.html").is_file(), rule["alert"]


@pytest.fixture(scope="module")
def exposed(shared_backend: Live, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name a single instance exports, and one reading a bus (the bus gauges exist only there)."""
    import httpx

    root = tmp_path_factory.mktemp("bus-instance")
    redis = RedisServer(root / "redis").start()
    try:
        with running(root, bus_url=redis.url) as on_bus:
            texts = [httpx.get(f"{backend.url}/metrics").text for backend in (shared_backend, on_bus)]
    finally:
        redis.stop()
    names: set[str] = set()
    for text in texts:
        families = set(re.findall(r"^# TYPE (\S+)", text, re.MULTILINE))  # labelled metrics with no samples yet too
        names |= _metric_names(text) | families | {f"{name}_total" for name in families}
    assert "backend_bus_up" in names, "the instance on a bus does not export backend_bus_up"
    return names


# not `backend_crash.ttr_seconds` (a drill key), nor the release wheel `backend_runbooks-0.1.0-...whl`
_METRIC = re.compile(r"\b(?:backend|process)_[a-z_]+(?![.\w-])")
_SUFFIXES = ("_bucket", "_count", "_sum")


def _metric_names(text: str) -> set[str]:
    names = set()
    for name in _METRIC.findall(text):
        for suffix in _SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


@pytest.mark.parametrize(
    "source",
    [RULES, *sorted((REPO / "runbooks").glob("*.md")), *sorted((REPO / "docs").glob("*.md"))],
    ids=lambda p: str(Path(p).relative_to(REPO)),
)
def test_every_metric_named_in_rules_and_pages_exists(exposed: set[str], source: Path) -> None:
    """Assert each backend_*/process_* metric a rule or page uses is in a live backend's /metrics."""
    text = source.read_text()
    if text.startswith("---\n"):  # front matter names drills (`drill: backend_crash`), not metrics
        text = text[text.index("\n---", 4) + 4 :]
    used = _metric_names(text)
    missing = sorted(
        n
        for n in used - exposed  # a `grep '^backend_ws_'` prefix must match some metric
        if not (n.endswith("_") and any(e.startswith(n) for e in exposed))
    )
    assert not missing, f"{source.name} uses metrics the backend does not expose: {missing}"


def test_one_instance_down_of_several_is_instance_down_and_all_down_is_backend_down(tmp_path: Path) -> None:
    """Assert, through promtool on the generated rules, that BackendDown stays quiet while another
    instance answers, and InstanceDown while none does: each page is opened for its own case."""
    shutil.copy(RULES, tmp_path / RULES.name)

    def case(b_up: int, alert: str) -> dict:
        return {
            "interval": "15s",
            "input_series": [
                {"series": 'up{instance="a:8081",job="backend"}', "values": "0x20"},
                {"series": 'up{instance="b:8082",job="backend"}', "values": f"{b_up}x20"},
            ],
            "alert_rule_test": [{"eval_time": "4m", "alertname": alert, "exp_alerts": []}],
        }

    quiet = {"rule_files": [RULES.name], "evaluation_interval": "15s"}
    (tmp_path / "quiet.yml").write_text(
        yaml.safe_dump({**quiet, "tests": [case(1, "BackendDown"), case(0, "InstanceDown")]})
    )
    (tmp_path / "loud.yml").write_text(yaml.safe_dump({**quiet, "tests": [case(1, "InstanceDown")]}))
    promtool = require("promtool", "prometheus")
    done = subprocess.run([promtool, "test", "rules", "quiet.yml"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([promtool, "test", "rules", "loud.yml"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "InstanceDown" in done.stdout + done.stderr, "InstanceDown never fired"
