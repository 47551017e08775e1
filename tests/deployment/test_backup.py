"""The guide's backup, restored for real: a backend started on the copy serves the same data."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.tools import require


def test_online_backup_restores_into_a_working_backend(start_backend, tmp_path: Path) -> None:
    """Assert `.backup` taken while writing restores to a file that passes integrity_check and serves every row."""
    source = start_backend()
    with source.client() as client:
        ids = [client.post("/api/items", json={"n": n}).json()["id"] for n in range(50)]
        for _ in range(7):
            client.post("/api/counters/restored/increment")
        backup = tmp_path / "backup.sqlite3"
        subprocess.run(
            [require("sqlite3", "sqlite3"), str(source.data_dir / "backend.sqlite3"), f".backup {backup}"],
            check=True,
            capture_output=True,
        )
        client.post("/api/items", json={"after": "backup"})  # not in the backup
    check = subprocess.run(["sqlite3", str(backup), "PRAGMA integrity_check;"], capture_output=True, text=True)
    assert check.stdout.strip() == "ok"
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    (restored_dir / "backend.sqlite3").write_bytes(backup.read_bytes())
    restored = start_backend(data_dir=restored_dir)
    with restored.client() as client:
        assert [client.get(f"/api/items/{i}").json()["body"] for i in ids] == [{"n": n} for n in range(50)]
        assert client.get("/api/counters/restored").json()["value"] == 7
        assert client.get(f"/api/items/{ids[-1] + 1}").status_code == 404
