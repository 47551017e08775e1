"""Several instances on one host as the guide's files make them (docs/fleet.md), ports and paths
aside: Redis as ``redis-bus.conf`` configures it, one supervised backend per port with what
``backend@.service`` sets, and nginx with ``nginx.conf`` and ``fleet.conf`` in front. The tests and
the fleet drills run these very files."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

from scripts import live
from scripts.live import Live, free_port
from scripts.nginx_server import running_nginx
from scripts.redis_server import RedisServer

__all__ = ["GUIDE", "GUIDE_PORTS", "Instances", "running_instances", "template_environment"]

GUIDE = live.REPO / "docs" / "deployment"
GUIDE_PORTS = (8081, 8082, 8083)  # fleet.conf's upstream servers, backend@PORT's instances
DURABLE = "appendonly yes\nappendfsync always\n"  # over the guide's: the bus kept across a restart


@dataclasses.dataclass
class Instances:
    """What clients reach (nginx), the instances behind it, and their bus."""

    url: str
    members: list[Live]
    bus: RedisServer


def template_environment(port: int) -> dict[str, str]:
    """The ``Environment=`` lines of backend@.service for instance ``port``."""
    lines = (GUIDE / "backend@.service").read_text().splitlines()
    pairs = (line.removeprefix("Environment=").split("=", 1) for line in lines if line.startswith("Environment="))
    return {name: value.replace("%i", str(port)) for name, value in pairs}


@contextlib.contextmanager
def running_instances(
    tmp: Path, connections: int = 1024, bus_durable: bool = False, settings: Mapping[str, object] | None = None
) -> Iterator[Instances]:
    """Redis, three instances (with ``settings`` over the template's) and nginx; all stopped after.
    ``bus_durable``: Redis keeps every write on disk before it answers (the other safe way to run it)."""
    config = (GUIDE / "redis-bus.conf").read_text() + (DURABLE if bus_durable else "")
    bus = RedisServer(tmp / "redis", config=config).start()
    shared = tmp / "data"
    with contextlib.ExitStack() as stack:
        stack.callback(bus.stop)
        members = []
        for guide_port in GUIDE_PORTS:
            env = template_environment(guide_port)
            own = tmp / f"instance-{guide_port}"
            own.mkdir()
            # the guide's layout, under this run's data directory
            instance_dir = shared / Path(env["BACKEND_INSTANCE_DIR"]).relative_to(env["BACKEND_DATA_DIR"])
            members.append(
                stack.enter_context(
                    live.running(
                        own,
                        "supervise",
                        data_dir=shared,
                        instance_dir=instance_dir,
                        bus_url=bus.url,
                        **(settings or {}),
                    )
                )
            )
        site = (GUIDE / "nginx.conf").read_text() + (GUIDE / "fleet.conf").read_text()
        for guide_port, member in zip(GUIDE_PORTS, members, strict=True):
            site = site.replace(f"127.0.0.1:{guide_port} ", f"127.0.0.1:{member.port} ")
        port = free_port()
        site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
        (tmp / "nginx").mkdir()
        stack.enter_context(running_nginx(tmp / "nginx", site, f"http://127.0.0.1:{port}/ready", connections))
        yield Instances(f"http://127.0.0.1:{port}", members, bus)
