"""No input makes `checks` print a traceback or exit with anything but 0, 1 or 2 (Hypothesis)."""

from __future__ import annotations

import contextlib
import io
import urllib.parse

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checks.cli import main
from checks.registry import CHECKS
from scripts.live import free_port

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
COMMANDS = ["doctor", *CHECKS, "thresholds", "bogus"]
DEAD_PORT = free_port()  # nothing listens: a well-formed URL is refused at once, on loopback


def _stays_on_loopback(url: str) -> bool:
    """Only inputs that cannot reach beyond this machine: malformed, or a loopback host."""
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return True
    return host is None or host in LOOPBACK


URLS = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda host, rest: f"http://{host}{rest}",
        st.sampled_from(["[::1", "[::1]", "127.0.0.1", "", "[", "localhost", "127.0.0.1:99999", ":"]),
        st.text(max_size=15),
    ),
    st.just(f"http://127.0.0.1:{DEAD_PORT}"),
)
NUMBERS = st.one_of(st.text(max_size=8), st.floats(allow_nan=True).map(str), st.integers().map(str))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.sampled_from(COMMANDS),
    url=URLS,
    timeout=NUMBERS,
    interval=NUMBERS,
    samples=NUMBERS,
    extra=st.lists(st.text(max_size=10), max_size=2),
)
def test_no_argument_prints_a_traceback(
    command: str, url: str, timeout: str, interval: str, samples: str, extra: list[str]
) -> None:
    """Assert any command, URL, number and stray argument ends in exit 0, 1 or 2 without a traceback."""
    assume(_stays_on_loopback(url))
    argv = [command, "--url", url, "--timeout", timeout, "--interval", interval, "--samples", samples, *extra]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors (2) and --help (0); a message would exit 1
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else -1
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in err.getvalue() + out.getvalue(), argv


@pytest.mark.parametrize("url", ["http://127.0.0.1\x1f:8080", "http://localhost:8080/\x1f"])
def test_urls_httpx_refuses_but_urlsplit_accepts_are_one_line(url: str) -> None:
    """Assert what Hypothesis found in CI: a control character urlsplit lets through exits 2, one line."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["http", "--url", url])
    assert code == 2 and "bad URL" in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


def test_the_malformed_ipv6_url_from_the_issue_is_one_line() -> None:
    """Assert `checks doctor --url "http://[::1"` says bad URL in one line and exits 2."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["doctor", "--url", "http://[::1"])
    assert code == 2 and err.getvalue().strip() == (
        "checks: bad URL 'http://[::1': expected http://HOST:PORT, e.g. http://127.0.0.1:8080"
    )
