"""Integration tests of the HTTP API against a real server process."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from scripts.live import Live, wait_for


def test_health_and_ready_answer(shared_backend: Live) -> None:
    """Assert liveness and readiness are 200 and readiness lists each part it checked."""
    with shared_backend.client() as client:
        health = client.get("/health")
        ready = client.get("/ready")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert set(body["checks"]) == {"database", "cache", "memory", "tasks"}
    assert body["last_errors"] == {}, "a healthy backend has had no error"


def test_metrics_exposes_every_documented_family(shared_backend: Live) -> None:
    """Assert /metrics parses and carries the families the alerts and checks rely on."""
    from prometheus_client.parser import text_string_to_metric_families

    with shared_backend.client() as client:
        client.get("/health")
        text = client.get("/metrics").text
    names = {family.name for family in text_string_to_metric_families(text)}
    expected = {
        "backend_http_requests",
        "backend_http_request_duration_seconds",
        "backend_http_requests_in_flight",
        "backend_ws_connections_active",
        "backend_ws_connections_capacity",
        "backend_ws_messages_sent",
        "backend_ws_slow_consumers_dropped",
        "backend_cache_requests",
        "backend_cache_disk_errors",
        "backend_cache_disk_degraded",
        "backend_db_errors",
        "backend_memory_guard_sheds",
        "backend_memory_guard_shedding",
        "backend_memory_watermark_bytes",
        "backend_supervisor_restarts",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "backend_http_shed",
        "backend_http_connections_refused",
        "backend_data_disk_free_bytes",
        "backend_data_disk_total_bytes",
    }
    assert expected <= names, f"missing: {sorted(expected - names)}"
    assert not {n for n in names if n.startswith("backend_bus_")}, "an instance without a bus exports bus gauges"
    assert "backend_http_requests_total{" in text and "_created" not in text
    assert shared_backend.metric("backend_ws_connections_capacity") == 1000


@pytest.mark.db_race_free
def test_concurrent_increments_are_exact(shared_backend: Live) -> None:
    """Assert 200 concurrent HTTP increments of one counter give exactly 200, each value once."""

    def bump(_: int) -> int:
        with httpx.Client(base_url=shared_backend.url, timeout=30.0) as client:
            response = client.post("/api/counters/race/increment")
            response.raise_for_status()
            return int(response.json()["value"])

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        values = list(pool.map(bump, range(200)))
    assert sorted(values) == list(range(1, 201))
    with shared_backend.client() as client:
        assert client.get("/api/counters/race").json() == {"name": "race", "value": 200}


def test_a_counter_read_after_an_acknowledged_increment_is_never_stale(shared_backend: Live) -> None:
    """Reads interleaved with increments from eight clients: every read after an increment was
    acknowledged shows at least that value, though the read-through cache holds the counter."""

    def client_loop(_: int) -> list[tuple[int, int]]:
        pairs = []
        with httpx.Client(base_url=shared_backend.url, timeout=30.0) as client:
            for _ in range(40):
                acknowledged = client.post("/api/counters/fresh/increment").json()["value"]
                pairs.append((acknowledged, client.get("/api/counters/fresh").json()["value"]))
        return pairs

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pairs = [pair for found in pool.map(client_loop, range(8)) for pair in found]
    assert all(read >= acknowledged for acknowledged, read in pairs), [p for p in pairs if p[1] < p[0]][:5]
    before = shared_backend.metric("backend_read_cache_requests_total", result="hit")
    with shared_backend.client() as client:  # with the writers gone, a second read is the cache's
        assert (
            client.get("/api/counters/fresh").json()
            == client.get("/api/counters/fresh").json()
            == {"name": "fresh", "value": 320}
        )
    assert shared_backend.metric("backend_read_cache_requests_total", result="hit") >= before + 1


@pytest.mark.db_race_free
def test_items_round_trip_and_idempotency_key(shared_backend: Live) -> None:
    """Assert an item reads back as stored and a repeated Idempotency-Key creates nothing new."""
    with shared_backend.client() as client:
        created = client.post("/api/items", json={"order": 7, "tags": ["a"]})
        assert created.status_code == 201
        item_id = created.json()["id"]
        assert client.get(f"/api/items/{item_id}").json()["body"] == {"order": 7, "tags": ["a"]}
        first = client.post("/api/items", json={"n": 1}, headers={"Idempotency-Key": "k-1"})
        again = client.post("/api/items", json={"n": 1}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False


def test_an_idempotency_key_over_128_characters_is_refused_and_stores_nothing(shared_backend: Live) -> None:
    """Assert the route's own check of the header (it is not a FastAPI parameter): 128 characters
    are accepted, 129 get 422 in the error envelope, and the refused request stores no item."""
    with shared_backend.client() as client:
        accepted = client.post("/api/items", json={"n": 1}, headers={"Idempotency-Key": "k" * 128})
        before = client.post("/api/items", json={"n": 0}).json()["id"]
        refused = client.post("/api/items", json={"n": 2}, headers={"Idempotency-Key": "k" * 129})
        after = client.post("/api/items", json={"n": 0}).json()["id"]
    assert accepted.status_code == 201
    assert refused.status_code == 422 and refused.json()["error"] == "validation_error", refused.text
    assert "at most 128 characters" in refused.json()["detail"] and refused.json()["request_id"]
    assert after == before + 1, "the refused request stored an item"


@pytest.mark.one_cache
def test_cache_put_get_delete(shared_backend: Live) -> None:
    """Assert a cached JSON value reads back from memory and is gone after DELETE."""
    with shared_backend.client() as client:
        put = client.put("/api/cache/user:1", json={"name": "ada"})
        assert put.json() == {"key": "user:1", "stored_in": "memory+disk"}
        assert client.get("/api/cache/user:1").json() == {"key": "user:1", "value": {"name": "ada"}, "tier": "memory"}
        assert client.delete("/api/cache/user:1").json()["deleted"] is True
        assert client.get("/api/cache/user:1").status_code == 404


def _chunks(size: int):
    for _ in range(size // 4096):
        yield b"x" * 4096


BAD_REQUESTS = [
    ("POST", "/api/items", {"content": b"{not json"}, 400, "invalid_json"),
    ("POST", "/api/items", {"json": [1, 2]}, 422, "validation_error"),
    ("PUT", "/api/cache/k", {"content": b"\xff\xfe"}, 400, "invalid_json"),
    ("POST", "/api/broadcast", {"json": {"msg": 1}}, 422, "validation_error"),
    ("POST", "/api/items", {"content": b"x" * 70000}, 413, "payload_too_large"),
    ("POST", "/api/items", {"content": _chunks(80 * 1024)}, 413, "payload_too_large"),
    ("GET", "/api/nothing-here", {}, 404, "not_found"),
    ("DELETE", "/health", {}, 405, "method_not_allowed"),
    ("POST", "/api/counters/bad%20name!/increment", {}, 422, "validation_error"),
    ("GET", "/api/items/abc", {}, 422, "validation_error"),
    ("GET", "/api/items/999999", {}, 404, "not_found"),
    ("GET", "/api/counters/never", {}, 404, "not_found"),
    ("PUT", "/_faults/db", {"json": {"unavailable": True}}, 403, "forbidden"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    BAD_REQUESTS,
    ids=[f"{m} {p} {s}" for m, p, _, s, _ in BAD_REQUESTS],
)
@pytest.mark.error_boundaries
def test_bad_input_is_a_json_4xx_with_request_id(
    shared_backend: Live, method: str, path: str, kwargs: dict, status: int, error: str
) -> None:
    """Assert bad input gets the documented 4xx, the JSON error shape, and a request id matching the header."""
    with shared_backend.client() as client:
        response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"}
    assert body["error"] == error and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.error_boundaries
def test_client_request_id_is_echoed(shared_backend: Live) -> None:
    """Assert a caller's X-Request-ID is kept so logs and errors can be matched."""
    with shared_backend.client() as client:
        response = client.get("/api/items/0", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123" and response.json()["request_id"] == "abc-123"


def test_fault_routes_do_not_exist_without_a_token(start_backend) -> None:
    """Assert a backend started without BACKEND_FAULTS_TOKEN has no /_faults routes at all."""
    backend = start_backend(faults_token="")
    with backend.client() as client:
        response = client.put("/_faults/db", json={"unavailable": True}, headers={"X-Faults-Token": ""})
    assert response.status_code == 404


@pytest.mark.error_boundaries
def test_database_unavailable_is_503_and_named_in_ready(start_backend) -> None:
    """Assert database routes answer 503 (not 500, no hang), /ready names the database, and it recovers."""
    backend = start_backend()
    backend.fault("db", unavailable=True)
    with backend.client() as client:
        response = client.post("/api/counters/x/increment")
        assert response.status_code == 503 and response.json()["error"] == "database_unavailable"
        assert client.put("/api/cache/still", json=1).status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["failing"] == ["database"]
        backend.fault("db", unavailable=False)
        assert client.post("/api/counters/x/increment").json()["value"] == 1
    assert backend.metric("backend_db_errors_total", kind="unavailable") >= 1


def test_tracemalloc_route_reports_growth_since_its_baseline(start_backend) -> None:
    """Assert the soak's allocation tracing: 409 before a baseline, growth lines after, off again on clear."""
    from scripts.live import FAULTS_TOKEN

    backend = start_backend()
    with backend.client(headers={"X-Faults-Token": FAULTS_TOKEN}) as client:
        assert client.get("/_faults/tracemalloc").status_code == 409
        assert client.post("/_faults/tracemalloc").json()["tracing"] is True
        for k in range(200):
            client.put(f"/api/cache/grow{k}", json={"pad": "x" * 2000}).raise_for_status()
        top = client.get("/_faults/tracemalloc", params={"top": 5}).json()["top"]
        assert 1 <= len(top) <= 5
        assert all(":" in line["where"] and isinstance(line["size_diff"], int) for line in top)
        assert sum(line["size_diff"] for line in top) > 200 * 2000 // 2  # the cached values are in there
        client.delete("/_faults").raise_for_status()
        assert client.get("/_faults/tracemalloc").status_code == 409


def test_an_item_id_past_sqlites_range_is_a_422_not_a_500(shared_backend: Live) -> None:
    """Assert an id SQLite cannot hold (Schemathesis found it answering 500) is refused as bad input."""
    with shared_backend.client() as client:
        for bad in ("913571289835577285829197824", "0", "-1"):
            answer = client.get(f"/api/items/{bad}")
            assert answer.status_code == 422 and answer.json()["error"] == "validation_error", (bad, answer.text)


def test_concurrent_ready_calls_under_a_held_write_lock_all_say_locked(start_backend) -> None:
    """Assert five /ready calls at once, while another process holds the write lock, all answer 503
    'locked' (they share one probe) instead of the later ones timing out behind the first."""
    import concurrent.futures

    from scripts.faults.database import write_lock_holder

    backend = start_backend()
    with write_lock_holder(backend.data_dir / "backend.sqlite3"), concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{backend.url}/ready", timeout=10).json(), range(5)))
    assert [a["checks"]["database"]["status"] for a in answers] == ["locked"] * 5, answers


def test_admission_control_refuses_past_the_in_flight_limit_fast_and_never_the_probes(start_backend) -> None:
    """Assert with 4 slow requests in progress (a 5 s injected latency) the next API requests are refused
    at once with 503, the envelope and Retry-After, counted by reason, while /health, /ready and
    /metrics answer 200; with the limit off (0) the same request waits its turn and is served."""
    import threading
    import time

    def hold(backend: Live, n: int) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=httpx.get, args=(f"{backend.url}/api/counters/never",), kwargs={"timeout": 30})
            for _ in range(n)
        ]
        for thread in threads:
            thread.start()
        wait_for(lambda: backend.metric("backend_http_requests_in_flight") >= n, 10, f"{n} requests in progress")
        return threads

    limited = start_backend(max_in_flight=4)
    # long enough to outlast the checks below on a busy machine (1 s did not: a held request ended and
    # the next one was served, CI)
    limited.fault("latency", seconds=5.0)
    held = hold(limited, 4)
    with limited.client() as client:
        client.get("/health")  # a warm connection: what is timed below is the server's answer
        timed = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.get("/api/counters/never")
            timed.append(time.perf_counter() - started)
            assert answer.status_code == 503 and answer.json()["error"] == "busy"
            assert answer.headers["retry-after"] == "1"
        assert [client.get(p).status_code for p in ("/health", "/ready", "/metrics")] == [200, 200, 200]
    assert max(timed) < 0.1, f"refusals took up to {max(timed) * 1000:.0f} ms: they waited"
    assert limited.metric("backend_http_shed_total", reason="in_flight") == 5
    for thread in held:
        thread.join(30)
    unlimited = start_backend(max_in_flight=0)
    unlimited.fault("latency", seconds=1.0)
    held = hold(unlimited, 4)
    assert httpx.get(f"{unlimited.url}/api/counters/never", timeout=30).status_code == 404  # served, late
    for thread in held:
        thread.join(30)
