"""The backend's mixed API load as a Locust scenario, for load that outgrows one generator machine.

One Locust process holds about 1,000 req/s here; past that, run a master and one worker per core on
as many machines as it takes (the stress report's "Beyond one machine" section has the commands).
Each user makes at most one request per second, so ``--users`` is the target rate.

Locust is closed loop: a user waits for an answer before its next request, so under overload its
percentiles hide the queueing (coordinated omission). Read its throughput and error counts; take
latency from ``make bench``'s open-loop suite.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, constant_throughput, task

__all__ = ["ApiUser"]


class ApiUser(FastHttpUser):
    """The bench's mix: 40 % cached reads, 10 % cache writes, 20 % increments, 15 % item writes and reads."""

    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        """Every path a task reads exists first, so a 404 is a real failure."""
        self.key = f"locust{random.randrange(1000)}"
        self.client.put(f"/api/cache/{self.key}", json={"user": self.key}, name="/api/cache/[key]")
        self.item = self.client.post("/api/items", json={"user": self.key}, name="/api/items").json()["id"]

    @task(40)
    def cache_read(self) -> None:
        self.client.get(f"/api/cache/{self.key}", name="/api/cache/[key]")

    @task(10)
    def cache_write(self) -> None:
        self.client.put(f"/api/cache/{self.key}", json={"at": random.random()}, name="/api/cache/[key]")

    @task(20)
    def increment(self) -> None:
        self.client.post(f"/api/counters/c{random.randrange(10)}/increment", name="/api/counters/[name]/increment")

    @task(15)
    def item_write(self) -> None:
        self.client.post("/api/items", json={"user": self.key}, name="/api/items")

    @task(15)
    def item_read(self) -> None:
        self.client.get(f"/api/items/{self.item}", name="/api/items/[id]")
