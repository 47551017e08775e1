"""wrk's output is parsed into figures, and output without them is an error, not a zero."""

from __future__ import annotations

import pytest

from scripts.bench.wrk import WrkError, parse

CLEAN = """Running 5s test @ http://127.0.0.1:18123/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.31ms    5.31ms 147.37ms   99.09%
    Req/Sec     5.04k     1.06k    6.31k    75.00%
  Latency Distribution
     50%    4.33ms
     75%    5.07ms
     90%    7.38ms
     99%   10.12ms
  50165 requests in 5.00s, 5.98MB read
Requests/sec:  10023.77
Transfer/sec:      1.19MB
"""


def test_parse_reads_rate_count_and_p99() -> None:
    """Assert the rate, request count and the 99 % line (in seconds) come from the text."""
    run = parse(CLEAN)
    assert (run.rps, run.requests, run.errors) == (10023.77, 50165, 0)
    assert run.p99_seconds == pytest.approx(0.01012)


def test_parse_counts_non_2xx_and_socket_errors_and_units() -> None:
    """Assert failed answers and socket errors add up, and a p99 in seconds or microseconds converts."""
    failing = CLEAN.replace("     99%   10.12ms", "     99%    1.20s") + (
        "  Socket errors: connect 0, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 11\n"
    )
    run = parse(failing)
    assert run.errors == 16 and run.p99_seconds == pytest.approx(1.2)
    assert "timeout 3" in str(run.failure("GET /x"))
    assert parse(CLEAN.replace("10.12ms", "850.00us")).p99_seconds == pytest.approx(0.00085)


def test_output_without_figures_is_an_error() -> None:
    """Assert a wrk that printed no summary (crash, wrong URL) raises naming what is missing."""
    with pytest.raises(WrkError, match="no Requests/sec"):
        parse("unable to connect to 127.0.0.1:9 Connection refused\n")
