"""The shared "Before you start" block: one file, included by every runbook, labelled like any block."""

from __future__ import annotations

from pathlib import Path

import pytest

from docsite.markdown import include_snippets
from pages import PageError, as_published, read_page
from tests.support import REPO


def test_an_included_snippet_is_labelled_and_kept_from_jinja(tmp_path: Path) -> None:
    """Assert the include line becomes the snippet, indented as the line was, its directive turned
    into the page's label and its block wrapped in raw (Prometheus' braces must survive macros)."""
    (tmp_path / "s.md").write_text("<!-- checks: skip: your own shell -->\n```sh\necho {{ x }}\n```\n")
    out = include_snippets('# T\n\n    --8<-- "s.md"\n\nafter', Path("p.md"), tmp_path)
    assert "--8<--" not in out
    assert '    {% raw %}<span class="safety safety-skip">Not run by the test suite: your own shell.</span>' in out
    assert "    {% raw %}```sh\n    echo {{ x }}\n    ```{% endraw %}" in out
    assert out.endswith("\n\nafter")


def test_a_missing_snippet_names_the_page_and_line(tmp_path: Path) -> None:
    """Assert an include of a file that is not there stops the build with the page, line and name."""
    with pytest.raises(PageError, match=r"p.md:2: no snippet gone.md under "):
        include_snippets('x\n--8<-- "gone.md"', Path("p.md"), tmp_path)


def test_a_config_file_include_is_left_to_pymdownx_snippets(tmp_path: Path) -> None:
    """Assert only Markdown snippets are put in place here; a fenced config file include stays."""
    text = '```yaml\n--8<-- "monitoring/prometheus.yml"\n```'
    assert include_snippets(text, Path("p.md"), tmp_path) == text


def test_every_runbook_sets_up_the_reader_from_the_one_snippet() -> None:
    """Assert the install path the shared block puts on PATH is the one the deployment guide installs to."""
    snippet = (REPO / "docs" / "snippets" / "before-you-start.md").read_text()
    guide = (REPO / "docs" / "deployment.md").read_text()
    assert 'export PATH="/srv/backend/.venv/bin:$PATH"' in snippet
    assert "sudo ln -sfn /srv/backend/releases/1/.venv /srv/backend/.venv" in guide


def test_a_snippet_block_is_a_step_of_the_section_that_includes_it() -> None:
    """Assert the rehearsal reads an included block as a step of the section it is included under:
    the fleet's "add an instance" is the Overloaded page's Mitigate step under its fault, and the
    shared "Before you start" is that section's on every runbook."""
    page = as_published(REPO / "runbooks" / "overloaded.md", REPO / "docs")
    mitigate = [b for b in page if b.section == "Mitigate"]
    assert [b.path.name for b in mitigate] == ["add-an-instance.md"]
    assert mitigate[0].shows_fault("overload") and "systemctl enable --now" in mitigate[0].text
    seen, order = [b.section for b in page], list(read_page(REPO / "runbooks" / "overloaded.md").sections)
    assert seen == sorted(seen, key=order.index), "a snippet's blocks out of the page's section order"
    for runbook, fault in (
        ("memory-high", "memory-from-load"),
        ("websocket-connections-near-capacity", "clients-growing"),
    ):
        steps = [b for b in as_published(REPO / "runbooks" / f"{runbook}.md", REPO / "docs") if b.shows_fault(fault)]
        assert "add-an-instance.md" in [b.path.name for b in steps if b.section == "Mitigate"], runbook
    for runbook in sorted((REPO / "runbooks").glob("*.md")):
        if runbook.name != "index.md":
            before = {b.path.name for b in as_published(runbook, REPO / "docs") if b.section == "Before you start"}
            assert "before-you-start.md" in before, runbook.name
