"""``fleet``: every instance that reads the message bus, as the bus sees them (docs/fleet.md).

Each instance writes, every second, how far it has read (``backend:reader:HOST:PORT``, kept ten
minutes, so an instance removed for good drops out). One row for the bus (its stream and numbering),
then one per instance: how many broadcasts it is behind, and how long since it last said so. The key
names are the backend's (``backend/bus.py``): a protocol, as the /metrics names are.

The bus's address is ``$BACKEND_BUS_URL``, else the instance's own setting when it runs on this host.
Each instance is also asked ``/health`` at the address it reports (its bind address: run this on the
instances' host), so one that died a moment ago is named before its report goes stale.
"""

from __future__ import annotations

import dataclasses
import json
import os

import httpx
import redis
from redis.exceptions import RedisError

from checks.context import Context
from checks.errors import CheckError
from checks.host_facts import server_environment
from checks.result import Result, Status, judge

__all__ = ["check", "others_serving"]

STREAM, NUMBERING, READERS = "backend:broadcasts", "backend:numbering", "backend:reader:"


@dataclasses.dataclass(frozen=True)
class _Bus:
    length: int
    epoch: str
    seq: int
    now: float  # Redis's own clock: the instances' reports are stamped on the same host's
    readers: list[dict[str, object]]


def _bus_url(ctx: Context) -> str:
    given = os.environ.get("BACKEND_BUS_URL", "")
    if given or not ctx.target.is_local:
        return given
    try:
        pid = int(ctx.target.identify()["pid"])
    except CheckError:
        return ""  # a dead instance has no settings to read: BACKEND_BUS_URL must be given
    return (server_environment(pid) or {}).get("BACKEND_BUS_URL", "")


def others_serving(instance: str, timeout: float, max_age: float) -> list[str]:
    """The instances other than ``instance`` (``host:port``) that reported on the bus within
    ``max_age`` seconds, when ``instance`` itself is one of the fleet (its report is still kept):
    empty without ``$BACKEND_BUS_URL``, when the bus does not answer, or for an address that never
    read the bus."""
    url = os.environ.get("BACKEND_BUS_URL", "")
    if not url:
        return []
    try:
        bus = _read(url, timeout)
    except (RedisError, OSError):
        return []
    if not any(r["instance"] == instance for r in bus.readers):
        return []
    return [
        str(r["instance"])
        for r in bus.readers
        if r["instance"] != instance and bus.now - float(str(r["at"])) <= max_age
    ]


def _read(url: str, timeout: float) -> _Bus:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        keys = sorted(client.scan_iter(match=f"{READERS}*", count=100))
        with client.pipeline(transaction=False) as pipe:
            pipe.xlen(STREAM)
            pipe.hmget(NUMBERING, ["epoch", "seq"])
            pipe.time()
            for key in keys:
                pipe.get(key)
            length, (epoch, seq), (seconds, micros), *raw = pipe.execute()
    finally:
        client.close()
    readers = [json.loads(r) for r in raw if r]
    return _Bus(int(length), (epoch or b"").decode(), int(seq or 0), seconds + micros / 1e6, readers)


def check(ctx: Context) -> list[Result]:
    url = _bus_url(ctx)
    if not url:
        return [Result("fleet.bus", Status.OK, "no message bus: one instance, or BACKEND_BUS_URL is not set")]
    try:
        bus = _read(url, ctx.target.timeout)
    except (RedisError, OSError) as exc:
        return [judge("fleet.bus", 0, ctx.limits["bus.up"], f"{url} does not answer: {str(exc).splitlines()[0]}")]
    rows = [
        Result(
            "fleet.bus",
            Status.OK,
            f"{url}: {bus.length} broadcasts in the stream, numbered to {bus.seq} (epoch {bus.epoch or 'none yet'}); "
            f"{len(bus.readers)} instances report",
        )
    ]
    return rows + [_instance(ctx, bus, reading) for reading in bus.readers]


def _unanswered(instance: str, timeout: float) -> str:
    """Why ``instance`` does not answer ``/health`` (empty when it does)."""
    try:
        httpx.get(f"http://{instance}/health", timeout=timeout, trust_env=False).raise_for_status()
    except httpx.HTTPError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ""


def _instance(ctx: Context, bus: _Bus, reading: dict[str, object]) -> Result:
    name = f"fleet.{reading['instance']}"
    age = bus.now - float(str(reading["at"]))
    said = f"read to {reading['seq']}, {age:.1f} s ago (pid {reading['pid']})"
    if down := _unanswered(str(reading["instance"]), ctx.target.timeout):
        detail = f"does not answer /health ({down}); last said: {said}"
        return Result(name, Status.FAIL, detail, runbook=ctx.limits["fleet.instance_up"].runbook)
    if age > ctx.limits["fleet.report_age_seconds"].value:
        return judge(name, age, ctx.limits["fleet.report_age_seconds"], f"silent: {said}")
    if reading["epoch"] != bus.epoch:
        return Result(name, Status.WARN, f"reads an older numbering ({reading['epoch']}): {said}")
    lag = int(str(reading["lag"]))  # measured by the instance against the bus, not against this later count
    return judge(name, lag, ctx.limits["bus.lag_broadcasts"], f"{lag} broadcasts behind the bus: {said}")
