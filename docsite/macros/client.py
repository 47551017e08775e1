"""Macros over the reference WebSocket client (``backend/client/feed.js``): its reconnect policy,
read from the module itself, so the page cannot drift from what the client does."""

from __future__ import annotations

import json
import re

from docsite.data import MacroSource

__all__ = ["ClientMacros"]

FEED = "backend/client/feed.js"
_POLICY = re.compile(r"// policy:begin.*?Object\.freeze\((\{.*?\})\);\s*// policy:end", re.DOTALL)


def _s(ms: float) -> str:
    return f"{ms / 1000:g} s"


class ClientMacros(MacroSource):
    def _policy(self) -> dict[str, float]:
        path = self.data.root / FEED
        match = _POLICY.search(path.read_text(encoding="utf-8")) if path.exists() else None
        if match is None:
            raise self.data.error(f"{FEED}: no POLICY between `// policy:begin` and `// policy:end`")
        return {k: float(v) for k, v in json.loads(match.group(1)).items()}

    def reconnect_policy(self) -> str:
        """The client's reconnect policy as a table, each number from feed.js's POLICY."""
        p = self._policy()
        base, top, full, full_top = p["retryBaseMs"], p["retryMaxMs"], p["fullMinMs"], p["fullMaxMs"]
        first = ", ".join(f"{_s(min(top, base * 2**n) / 2)}–{_s(min(top, base * 2**n))}" for n in range(4))
        rows = [
            (
                "connection lost (1006), dropped as slow (1008), idle (1000), 1003, 1009",
                f"retry *n* waits between half and all of min({_s(top)}, {_s(base)} × 2ⁿ): {first}, …, "
                f"{_s(top / 2)}–{_s(top)} from then on",
            ),
            (
                "server draining (1001, a restart or deploy)",
                f"first retry after 0–{_s(p['drainMaxMs'])} (spread over the whole fleet), then as above",
            ),
            (
                "server full (1013)",
                f"between half and all of min({_s(full_top)}, {_s(full)} × 2ⁿ): no storm on a full server",
            ),
            (
                "a socket that went quiet (half-open)",
                f"a heartbeat every {_s(p['heartbeatIntervalMs'])}; a socket silent for "
                f"{_s(p['heartbeatIntervalMs'] + p['heartbeatTimeoutMs'])} is replaced",
            ),
            ("a connection that never opens", f"given up after {_s(p['connectTimeoutMs'])}, then retried as above"),
        ]
        return "\n".join(
            ["| when | what the client does |", "|---|---|", *(f"| {when} | {what} |" for when, what in rows)]
        )
