"""``bus``: whether this instance reads the message bus that several instances share, and how far
behind it is (docs/fleet.md).

An instance without ``BACKEND_BUS_URL`` exports no bus gauge: it numbers its own broadcasts, and
the row says so (ok: nothing is refused) rather than calling an absent bus down.
"""

from __future__ import annotations

from checks.context import Context
from checks.result import Result, Status, judge

__all__ = ["check"]

UP = "backend_bus_up"
LAG = "backend_bus_lag_broadcasts"


def check(ctx: Context) -> list[Result]:
    snapshot = ctx.latest()
    if not snapshot.has(UP):
        return [Result("bus.up", Status.OK, "one instance: no message bus to read (BACKEND_BUS_URL is not set)")]
    if not snapshot.sum(UP):
        state = "cannot read the message bus (its Redis): every broadcast is refused with 503 bus_unavailable"
        return [judge("bus.up", 0, ctx.limits["bus.up"], state)]
    lag = snapshot.sum(LAG)
    return [
        judge("bus.up", 1, ctx.limits["bus.up"], "reads the message bus"),
        judge("bus.lag", lag, ctx.limits["bus.lag_broadcasts"], f"{lag:.0f} broadcasts behind the bus"),
    ]
