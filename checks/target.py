"""How the checks reach a backend: HTTP with one timeout, errors turned into one-line :class:`TargetError`s.

Nothing here imports ``backend``: the CLI must work against any deployment from a laptop.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import httpx

from checks.errors import NotABackend, TargetTimeout, TargetUnreachable
from checks.promql import Snapshot, parse
from pages import ws_url_of

__all__ = ["Target"]


class Target:
    """One backend, addressed by its base URL."""

    def __init__(self, url: str, timeout: float) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            scheme, hostname, _ = parts.scheme, parts.hostname, parts.port  # raise on a malformed netloc or port
        except ValueError:
            scheme, hostname = "", None
        bad = TargetUnreachable(f"bad URL {url!r}: expected http://HOST:PORT, e.g. http://127.0.0.1:8080")
        if scheme not in ("http", "https") or not hostname:
            raise bad
        self.url = url.rstrip("/")
        self.host = hostname
        self.port = parts.port or (443 if scheme == "https" else 80)
        self.timeout = timeout
        self._identity: dict[str, Any] | None = None
        try:  # httpx is stricter than urlsplit: control characters, a port like ';'
            self._client = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False)
        except httpx.InvalidURL:
            raise bad from None

    @property
    def ws_url(self) -> str:
        return ws_url_of(self.url)

    @property
    def is_local(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost")

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.ConnectTimeout:
            raise TargetTimeout(
                f"connecting to {self.url} took over {self.timeout:g} s; "
                f"check the host and firewall, or raise --timeout"
            ) from None
        except httpx.TimeoutException:
            if path == "/health":  # does no work: a silent /health is a hung server, not a slow one
                raise TargetTimeout(
                    f"{self.url}/health did not answer within {self.timeout:g} s: the server "
                    f"accepts connections but is hung"
                ) from None
            raise TargetTimeout(
                f"{self.url}{path} did not answer within {self.timeout:g} s; the server may "
                f"be overloaded or its event loop blocked"
            ) from None
        except httpx.ConnectError as exc:
            raise TargetUnreachable(
                f"cannot connect to {self.url} ({_reason(exc)}); is the backend running? try: curl -v {self.url}/health"
            ) from None
        except httpx.HTTPError as exc:
            if _closed_unanswered(exc):  # what curl calls "Empty reply from server" (or a reset)
                raise TargetUnreachable(
                    f"{self.url}{path}: the server took the connection and closed it without an answer"
                ) from None
            raise NotABackend(
                f"{self.url}{path} gave an answer that is not HTTP the backend speaks "
                f"({type(exc).__name__}); is this the right port?"
            ) from None

    def json(self, path: str) -> tuple[int, dict[str, Any]]:
        """Status and JSON object of GET ``path``; anything but a JSON object is :class:`NotABackend`."""
        response = self.request("GET", path)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            kind = response.headers.get("content-type", "no content type")
            raise NotABackend(
                f"{self.url}{path} answered {response.status_code} with {kind}, not the backend's "
                f"JSON; is {self.url} the backend?"
            )
        return response.status_code, body

    def identify(self) -> dict[str, Any]:
        """GET /health and make sure it is the backend answering. The first good answer is kept: one
        run of checks is one look at one process, and every probe that asks who it is (its pid, its
        uptime) gets the answer the liveness check got, without asking again."""
        if self._identity is None:
            status, body = self.json("/health")
            if status != 200 or body.get("status") != "ok" or "pid" not in body:
                raise NotABackend(f"{self.url}/health answered {status} {body!r:.80}, not the backend's liveness JSON")
            self._identity = body
        return self._identity

    def scrape(self, ago: float | None = None) -> Snapshot | None:
        """/metrics now, or as the backend kept it ``ago`` seconds back (None when it keeps no history)."""
        response = self.request("GET", "/metrics", params=None if ago is None else {"ago": f"{ago:g}"})
        taken_at = time.monotonic()
        if ago is not None:
            age = response.headers.get("x-metrics-age-seconds")
            if response.status_code != 200 or age is None:
                return None
            try:
                taken_at -= float(age)
            except ValueError:
                return None
        if response.status_code != 200:
            raise NotABackend(f"{self.url}/metrics answered {response.status_code}; expected Prometheus text")
        try:
            snapshot = parse(response.text, taken_at)
        except (ValueError, KeyError, IndexError) as exc:
            raise NotABackend(f"{self.url}/metrics is not valid Prometheus exposition text: {exc}") from None
        if ago is None and not snapshot.has("backend_http_requests_total"):  # a copy may predate any request
            raise NotABackend(f"{self.url}/metrics has no backend_* metrics; is {self.url} the backend?")
        return snapshot


def _closed_unanswered(exc: httpx.HTTPError) -> bool:
    """The connection was taken and closed (or reset) before any byte of an answer: not garbage,
    no answer at all, as from a server out of descriptors."""
    return isinstance(exc, httpx.ReadError) or (
        isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc)
    )


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "name" in text.lower() and "resol" in text.lower() or "not known" in text.lower():
        return "unknown host"
    return text or type(exc).__name__
