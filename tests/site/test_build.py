"""The real site builds strictly; bad data and unknown keys stop the build and say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.thresholds import format_value
from checks.thresholds import load as load_thresholds
from tests.support import REPO
from tests.support.building import BuildFailed, build_site, small_project


def test_site_builds_strictly_with_runbooks_under_runbooks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Assert the strict build passes, publishes /runbooks/<page>/, prints limits from the thresholds
    file, and leaves Jinja in code intact."""
    (tmp_path / "no-results").mkdir()
    build_site(REPO / "mkdocs.yml", tmp_path / "site", caplog, tmp_path / "no-results")
    page = (tmp_path / "site" / "runbooks" / "cache-disk-failure" / "index.html").read_text()
    assert "Diagnostics not run in this checkout" in page
    assert 'class="safety safety-mutating"' in page
    assert "What you see during the fault · read-only." in page and "What a healthy backend prints" in page
    database = (tmp_path / "site" / "runbooks" / "database-unavailable" / "index.html").read_text()
    assert "Production step: stops the service through systemd." in database
    hit_rate = load_thresholds()["cache.hit_ratio"]
    hit_rate_page = (tmp_path / "site/runbooks/cache-hit-rate-low/index.html").read_text()
    assert format_value(hit_rate.value, hit_rate.unit) in hit_rate_page
    authoring = (tmp_path / "site" / "authoring" / "index.html").read_text()
    assert "{{ $labels.instance }}" in authoring
    assert "not measured yet" in (tmp_path / "site" / "baselines" / "index.html").read_text()


def test_unknown_threshold_key_fails_naming_page_and_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Assert a page asking for a threshold that does not exist fails the build with page and key."""
    with pytest.raises(BuildFailed, match=r"index.md: unknown threshold key 'ws.typo'"):
        build_site(small_project(tmp_path, '# T\n\nLimit: {{ threshold("ws.typo") }}\n'), tmp_path / "site", caplog)


def test_undefined_variable_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Assert a misspelt macro name is an error, not an empty string in the page."""
    with pytest.raises(BuildFailed, match="treshold"):
        build_site(small_project(tmp_path, "# T\n\n{{ treshold('x') }}\n"), tmp_path / "site", caplog)


def test_unknown_safety_word_fails_the_build_with_page_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Assert ``<!-- checks: mutate -->`` stops the build naming the page, its line and the known words,
    instead of rendering "Unknown safety class" into the page."""
    page = "# T\n\ntext\n\n<!-- checks: mutate -->\n```console\n$ true\n```\n"
    with pytest.raises(BuildFailed, match=r"index.md:5: unknown directive word 'mutate'; use read-only"):
        build_site(small_project(tmp_path, page), tmp_path / "site", caplog)


def test_directive_line_numbers_count_the_front_matter(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Assert the line in a directive error is the source file's, front matter included."""
    page = "---\ntitle: x\n---\n# T\n\n<!-- checks: nope -->\n```console\n$ true\n```\n"
    with pytest.raises(BuildFailed, match=r"index.md:6: unknown directive"):
        build_site(small_project(tmp_path, page), tmp_path / "site", caplog)


def test_malformed_results_file_fails_the_build_with_its_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Assert a broken results/baselines.json stops the build in one line naming the file."""
    config = small_project(tmp_path, "# T\n")
    bad = tmp_path / "results" / "baselines.json"
    bad.write_text('{"generated_at": "2026-11-26T00:00:00"}')
    with pytest.raises(BuildFailed) as info:
        build_site(config, tmp_path / "site", caplog)
    assert f"site data: {bad}: missing provenance field 'commit'" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_a_list_item_indented_three_spaces_fails_the_build_naming_what_shows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Assert the published runbooks' old defect stops the strict build: a paragraph indented three
    spaces ends the list, so the next block's safety label and fence are shown as code, not read."""
    page = (
        "# T\n\n0. First step.\n\n    ```console\n    $ true\n    ```\n\n"
        "   During the fault:\n\n    <!-- checks: fault -->\n    ```console\n    $ true\n    ```\n\n1. Next.\n"
    )
    with pytest.raises(BuildFailed, match=r"index.md: the rendered page shows Markdown as text: shown as code"):
        build_site(small_project(tmp_path, page), tmp_path / "site", caplog)
    fixed = page.replace("\n   During", "\n    During")
    caplog.clear()
    try:  # a small site links to guides it does not have; what matters is that this page renders
        build_site(small_project(tmp_path / "fixed", fixed), tmp_path / "fixed" / "site", caplog)
    except BuildFailed as exc:
        assert "index.md: the rendered page" not in str(exc)
