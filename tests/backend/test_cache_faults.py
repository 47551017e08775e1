"""The cache keeps serving from memory while its disk fails, says so in /ready, and heals by itself."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from scripts.live import Live, wait_for
from tests.support.faults import tmpfs

pytestmark = [pytest.mark.cache_io_off_loop]


def cache_failing(backend: Live) -> bool:
    body = backend.ready()
    return "cache" in body["failing"] and body["checks"]["cache"]["status"] == "degraded"


def cache_healthy(backend: Live) -> bool:
    return backend.ready()["failing"] == []


def assert_serves_from_memory(backend: Live, key: str) -> None:
    with backend.client() as client:
        put = client.put(f"/api/cache/{key}", json={"during": "outage"})
        assert put.status_code == 200 and put.json()["stored_in"] == "memory"
        got = client.get(f"/api/cache/{key}")
        assert got.status_code == 200 and got.json()["tier"] == "memory"


def test_injected_disk_errors_degrade_and_recover(start_backend) -> None:
    """Assert injected I/O errors: no client error, errors counted, /ready names the cache, then recovery."""
    backend = start_backend(cache_probe_interval=0.2)
    with backend.client() as client:
        client.put("/api/cache/before", json=1)
        backend.fault("cache", disk_failing=True)
        assert_serves_from_memory(backend, "during")
        assert client.delete("/api/cache/before").status_code == 200
    wait_for(lambda: cache_failing(backend), 5, "/ready to name the cache")
    assert backend.metric("backend_cache_disk_errors_total") >= 1
    assert backend.metric("backend_cache_disk_degraded") == 1
    backend.fault("cache", disk_failing=False)
    wait_for(lambda: cache_healthy(backend), 5, "the disk tier to recover")
    with backend.client() as client:
        assert client.put("/api/cache/after", json=2).json()["stored_in"] == "memory+disk"
        assert client.get("/api/cache/before").status_code == 404


def test_cache_directory_replaced_by_a_file_degrades_and_recovers(start_backend) -> None:
    """Assert a real fault (the directory gone, a file in its place) is found by the probe and healed."""
    backend = start_backend(cache_probe_interval=0.2)
    cache_dir = backend.data_dir / "cache"
    shutil.rmtree(cache_dir)
    cache_dir.write_text("an operator's mistake")
    wait_for(lambda: cache_failing(backend), 5, "/ready to name the cache")
    assert_serves_from_memory(backend, "k")
    cache_dir.unlink()
    assert cache_failing(backend), "a missing directory is the operator's to recreate"
    cache_dir.mkdir()
    wait_for(lambda: cache_healthy(backend), 5, "the disk tier to recover")
    with backend.client() as client:
        assert client.put("/api/cache/k2", json=1).json()["stored_in"] == "memory+disk"
    assert (cache_dir / "cache.db").exists()


def test_cache_directory_deleted_under_the_open_cache_is_noticed(start_backend) -> None:
    """Assert `rm -rf` of the cache directory (the process keeps its deleted files open) degrades the
    cache within a probe interval instead of reporting "memory+disk" into deleted files, then heals
    into a fresh directory."""
    backend = start_backend(cache_probe_interval=0.2)
    with backend.client() as client:
        assert client.put("/api/cache/before", json=1).json()["stored_in"] == "memory+disk"
    cache_dir = backend.data_dir / "cache"
    shutil.rmtree(cache_dir)
    wait_for(lambda: cache_failing(backend), 5, "the probe to notice the deleted directory")
    assert_serves_from_memory(backend, "during")
    cache_dir.mkdir()
    wait_for(lambda: cache_healthy(backend), 5, "the disk tier to recover")
    with backend.client() as client:
        assert client.put("/api/cache/after", json=2).json()["stored_in"] == "memory+disk"
    assert (cache_dir / "cache.db").exists(), "the cache reopened in the new directory"
    assert "deleted or replaced" in backend.log()


@pytest.mark.root
def test_full_disk_degrades_to_memory_and_recovers_when_space_returns(tmp_path: Path, start_backend) -> None:
    """Assert a real ENOSPC (a 2 MiB tmpfs filled up) costs no client request and heals when space returns."""
    data_dir = tmp_path / "data"
    with tmpfs(data_dir / "cache", "2m"):
        backend = start_backend(data_dir=data_dir, cache_probe_interval=0.2)
        filler = data_dir / "cache" / "filler"
        with open(filler, "wb") as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        big = "x" * 100_000  # bigger than diskcache's inline limit: written as its own file
        with backend.client() as client:
            put = client.put("/api/cache/big", json=big)
            assert put.status_code == 200 and put.json()["stored_in"] == "memory"
            assert client.get("/api/cache/big").json()["value"] == big
        wait_for(lambda: cache_failing(backend), 5, "/ready to name the cache")
        assert "No space left" in backend.ready()["checks"]["cache"]["detail"]
        filler.unlink()
        wait_for(lambda: cache_healthy(backend), 5, "the disk tier to recover")
        with backend.client() as client:
            assert client.put("/api/cache/big2", json=big).json()["stored_in"] == "memory+disk"
        backend.stop()
