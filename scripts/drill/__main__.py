"""``make drill``: run the fault drills against live backends, then the reference client's view of
each outage in Chromium, and write ``results/recovery.json``.

    python -m scripts.drill                 all six drills, every client scenario and the overload drill
                                            (with and without admission control); writes the results
    python -m scripts.drill --quick NAME..  shorter phases, chosen drills (``clients``: the client
                                            scenarios, ``overload``); writes nothing

Exit code 0 when every drill met its targets, 1 otherwise (the results are written either way:
a miss is a finding).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from scripts import results
from scripts.drill import client, overload
from scripts.drill.client import ClientResult
from scripts.drill.drills import DRILLS
from scripts.drill.outcome import DrillResult, Judged
from scripts.drill.overload import OverloadResult

J = TypeVar("J", bound=Judged)


def _row(r: DrillResult) -> str:
    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    return (
        f"{'PASS' if r.passed else 'FAIL'}  {r.name:<24} TTD {sec(r.ttd_seconds):>8}  TTR {sec(r.ttr_seconds):>8}  "
        f"lost writes {r.writes_lost}/{r.writes_acked}  dup {r.writes_duplicated}  "
        f"lost broadcasts {r.ws_messages_lost}"
    )


def _print_targets(result: Judged) -> None:
    for target, met in result.targets.items():
        print(f"      {'ok  ' if met else 'MISS'} {target}")


def _client_row(r: ClientResult) -> str:
    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    attempts = f"  attempts {r.attempts}/{r.attempts_bound} allowed" if r.attempts_bound is not None else ""
    return (
        f"{'PASS' if r.passed else 'FAIL'}  client {r.name:<17} shown {sec(r.outage_shown_seconds):>8}  "
        f"live {sec(r.live_again_seconds):>8}  missed {r.missed}/{r.acknowledged}  dup {r.duplicated}{attempts}"
    )


def _overload_row(r: OverloadResult) -> str:
    recovered = "never" if r.recovered_seconds is None else f"{r.recovered_seconds:.1f} s"
    return (
        f"{'PASS' if r.passed else 'FAIL'}  overload {r.mode:<14} sent {r.sent_rps:6.0f}/s  admitted {r.admitted} "
        f"(p99 {r.admitted_p99_seconds * 1000:.1f} ms)  refused {r.refused} (p99 "
        f"{r.refused_p99_seconds * 1000:.1f} ms)  failed {r.failed}  recovered {recovered}  "
        f"RSS max {r.rss_max_bytes / 2**20:.0f} MiB  writes lost {r.writes_lost}/{r.writes_acked}"
    )


def _write(
    found: list[DrillResult], clients: list[ClientResult], overloads: list[OverloadResult], directory: Path
) -> None:
    recorded: dict[str, tuple[float, str, int | None]] = {
        f"{r.name}.{field}": (round(float(value), 3), unit, 1)
        for r in found
        for field, (unit, _) in results.DRILL_FIGURES.items()
        if (value := getattr(r, field)) is not None
    }
    recorded.update(
        {
            f"client.{c.name}.{field}": (round(float(value), 3), unit, 1)
            for c in clients
            for field, (unit, _) in results.CLIENT_FIGURES.items()
            if (value := getattr(c, field)) is not None
        }
    )
    recorded.update(
        {
            f"overload.{o.mode}.{field}": (round(float(value), 4), unit, 1)
            for o in overloads
            for field, (unit, _, _) in results.OVERLOAD_FIGURES.items()
            if (value := getattr(o, field)) is not None
        }
    )
    path = directory / results.RECOVERY
    results.write(
        path,
        recorded,
        {
            "tools": {"python": sys.version.split()[0]},
            "drills": [r.to_json() for r in found],
            "clients": [c.to_json() for c in clients],
            "overload": [o.to_json() for o in overloads],
        },
        history=20,
    )
    print(f"wrote {path}")


def _run_measurement(
    name: str, names: list[str], quick: bool, run: Callable[..., list[J]], row: Callable[[J], str]
) -> list[J]:
    """Run the measurement ``name`` (the client scenarios, the overload drill) when it is asked for,
    printing a row and the targets of each outcome."""
    if name not in names:
        return []
    with tempfile.TemporaryDirectory(prefix=f"drill-{name}-") as tmp:
        outcomes = run(Path(tmp), quick=quick)
    for outcome in outcomes:
        print(row(outcome), flush=True)
        _print_targets(outcome)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *DRILLS, "clients", "overload"],
        default=[],
        metavar="NAME",
        help=f"drills to run (default all): {', '.join(DRILLS)}, clients, overload",
    )
    parser.add_argument("--quick", action="store_true", help="shorter phases; results are not written")
    args = parser.parse_args(argv)
    names = args.names or [*DRILLS, "clients", "overload"]
    found = []
    for name in (n for n in names if n in DRILLS):
        with tempfile.TemporaryDirectory(prefix=f"drill-{name}-") as tmp:
            result = DRILLS[name](Path(tmp), args.quick)
        found.append(result)
        print(_row(result), flush=True)
        _print_targets(result)
        print(f"      client errors: {result.client_errors or 'none'}; {result.figures or ''}")
    clients = _run_measurement("clients", names, args.quick, client.run, _client_row)
    overloads = _run_measurement("overload", names, args.quick, overload.run, _overload_row)
    if not args.quick and not args.names:
        _write(found, clients, overloads, results.DEFAULT_DIR)
    admitted = [o for o in overloads if o.mode == "admission"]  # without it, missing the targets is the point
    return 0 if all(r.passed for r in [*found, *clients, *admitted]) else 1


if __name__ == "__main__":
    sys.exit(main())
