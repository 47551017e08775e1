"""Publishing from a proof made elsewhere (``--proof``): taken only when it is this checkout's and
covers every runbook and game day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pages import read_page
from scripts import publish, results
from tests.support import REPO

RUNBOOKS = sorted((REPO / "runbooks").glob("*.md"))


def _complete(commit: str) -> dict[str, dict[str, dict[str, object]]]:
    """Rows for every runbook page and every game day its front matter names, stamped ``commit``."""
    pages = {
        f"runbooks/{p.name}": {"passed": 1, "failed": 0, "commit": commit}
        for p in RUNBOOKS
        if any(b.runnable for b in read_page(p).blocks)  # the index has no commands, so no row
    }
    days = {
        f"runbooks/{p.name}::{fault}": {"passed": True, "commit": commit}
        for p in RUNBOOKS
        for fault in read_page(p).meta.get("faults") or []
    }
    return {"pages": pages, "gamedays": days}


def test_a_complete_proof_of_this_commit_covers_everything() -> None:
    """Assert nothing is missing from a proof with every page and game day of the commit."""
    assert publish.uncovered(_complete("abc"), "abc") == []


def test_a_proof_of_another_commit_or_with_a_game_day_missing_is_not_enough() -> None:
    """Assert rows of another commit count as missing, and a missing game day is named."""
    assert len(publish.uncovered(_complete("old"), "abc")) == len(publish.uncovered({}, "abc")) > len(RUNBOOKS)
    rows = _complete("abc")
    rows["gamedays"].pop("runbooks/backend-down.md::hung-server")
    assert publish.uncovered(rows, "abc") == ["runbooks/backend-down.md::hung-server (gamedays)"]


def test_publish_refuses_a_proof_that_is_not_this_checkouts(tmp_path: Path) -> None:
    """Assert `publish --proof` stops, naming what the proof lacks, and writes no archive."""
    proof = tmp_path / "test-runs.json"
    stamp = {"generated_at": "2026-12-01T00:00:00+00:00", "commit": "0" * 40, "machine": {}}
    proof.write_text(json.dumps({**stamp, **_complete("0" * 40)}))
    with pytest.raises(SystemExit, match=rf"does not prove commit {results.commit()[:12]} for runbooks/"):
        publish.main(["--proof", str(proof), "--out", str(tmp_path / "dist"), "--site-url", "http://127.0.0.1:9/"])
    assert not list((tmp_path / "dist").glob("*"))
