"""``checks``: the on-call CLI. Which part of the backend is sick, and which runbook to open.

Exit codes: 0 all ok · 1 a warning or failure found · 2 could not run (bad arguments, unreachable
or wrong target, malformed thresholds, missing page). Errors are one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from checks import render, thresholds
from checks.context import Context
from checks.errors import CheckError, NotABackend, TargetError, TargetTimeout, TargetUnreachable
from checks.host_facts import open_files, port_owner
from checks.probes import fleet
from checks.registry import CHECKS
from checks.result import Result, Status
from checks.routing import DEFAULT_SITE_URL, instance_of, ranked, runbook_url, site_url
from checks.runner import run_page
from checks.target import Target
from pages import DEFAULT_TIMEOUT, PageError, environment

__all__ = ["EXIT_FOUND", "EXIT_OK", "EXIT_UNUSABLE", "main"]

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_UNUSABLE = 2
DEFAULT_URL = "http://127.0.0.1:8080"
BACKEND_DOWN = "backend-down"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNUSABLE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _seconds(text: str) -> float:
    """A duration argument: a finite number of seconds above 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0 < value <= 3600:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0 and at most 3600")
    return value


def _samples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 2 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give 2 to 10000 samples (a percentile needs two)")
    return value


def _summary(docstring: str) -> str:
    """What a component checks, from its module docstring ````ws``: capacity, ...`` → ``capacity, ...``."""
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    name, sep, rest = paragraph.partition(": ")
    text = rest if sep and name.startswith("``") else paragraph
    return text.split(". ")[0].rstrip(".").replace("``", "")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("BACKEND_URL", DEFAULT_URL),
        help="backend base URL (default: $BACKEND_URL or %(default)s)",
    )
    common.add_argument("--timeout", type=_seconds, default=5.0, help="seconds per network call (default 5)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument(
        "--data-dir",
        default=os.environ.get("BACKEND_DATA_DIR") or None,
        help="the backend's data directory, for file checks on its host ($BACKEND_DATA_DIR); "
        "without it those rows say skip",
    )
    common.add_argument(
        "--interval",
        type=_seconds,
        default=0.5,
        help="only for a backend that keeps no metrics history: seconds between the two "
        "/metrics scrapes rates are then taken over (default 0.5); otherwise each rate "
        "uses its alert's window",
    )
    common.add_argument(
        "--site-url",
        default=None,
        help=f"the published handbook, for runbook links ($HANDBOOK_SITE_URL, default {DEFAULT_SITE_URL})",
    )
    common.add_argument(
        "--samples", type=_samples, default=20, help="requests in the latency sample, 2 to 10000 (default 20)"
    )
    common.add_argument("--thresholds", type=Path, default=None, help="thresholds file (default: the packaged one)")
    parser = _Parser(prog="checks", description=__doc__.split("\n\n")[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("doctor", parents=[common], help="every quick check in one table")
    for name, check in CHECKS.items():
        sub.add_parser(name, parents=[common], help=_summary(sys.modules[check.__module__].__doc__ or name))
    sub.add_parser("thresholds", parents=[common], help="the table of limits")
    run = sub.add_parser("run", parents=[common], help="run a page's console blocks against the target")
    run.add_argument("page", type=Path, help="a Markdown page, e.g. runbooks/backend-down.md")
    run.add_argument("--allow-mutating", action="store_true", help="also run blocks marked mutating/destructive")
    run.add_argument(
        "--block-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per command (default {DEFAULT_TIMEOUT:g}; a block's `timeout=N` directive wins)",
    )
    return parser


def _run_checks(ctx: Context, names: Sequence[str], keep_going: bool) -> list[Result]:
    """Run components concurrently (they share the scrapes); keep the registry's order. With
    ``keep_going`` (doctor) a component that cannot run becomes an error row instead of ending the run."""
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(CHECKS[name], ctx) for name in names}
        results = []
        for name, future in futures.items():
            try:
                results.extend(future.result())
            except TargetError as exc:
                if not keep_going:
                    raise
                results.append(Result(f"{name}.probe", Status.ERROR, str(exc), runbook=BACKEND_DOWN))
            except CheckError as exc:
                if not keep_going:
                    raise
                results.append(Result(f"{name}.probe", Status.ERROR, str(exc)))
        return results


def _data_dir(raw: str | None) -> Path | None:
    """``--data-dir``: unset or empty is "not given" (rows say skip); a missing directory is an error."""
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise CheckError(f"--data-dir {raw}: no such directory; give the backend's BACKEND_DATA_DIR on its host")
    return path


def _who_listens(target: Target, exc: Exception) -> str:
    """On the backend's host, what holds its port when the backend does not answer there: the cause
    of "address already in use" (another process took the port) or of nothing listening at all."""
    if not target.is_local:
        return ""
    owner = port_owner(target.port)
    if owner is None:
        return f"; nothing listens on port {target.port}" if isinstance(exc, TargetUnreachable) else ""
    if isinstance(exc, NotABackend):
        return f'; port {target.port} is held by {owner}, not the backend (see "Port taken")'
    return f"; port {target.port} is held by {owner}"


def _one_of_several(why: str, target: Target, limits: Mapping[str, thresholds.Threshold]) -> tuple[str, str]:
    """The page for a backend that does not answer: "Backend down", unless other instances still
    read the same message bus (``$BACKEND_BUS_URL``): then one instance of several is down."""
    fresh = limits["fleet.report_age_seconds"]
    others = fleet.others_serving(instance_of(target.url), target.timeout, fresh.value)
    if not others:
        return why, BACKEND_DOWN
    serving = f"{why}; one instance of several: {', '.join(others)} read the bus and serve its clients"
    return serving, limits["fleet.instance_up"].runbook


def _out_of_files(target: Target) -> str:
    """On the backend's host, whether what holds its port has used every descriptor its limit allows:
    then no connection gets an answer, closed at once or left waiting, whichever the moment gives,
    and the limit, not a hang or a crash, is the cause to name."""
    owner = port_owner(target.port) if target.is_local else None
    files = open_files(owner.pid) if owner and owner.pid else None
    if owner is None or files is None or not files.exhausted:
        return ""
    return (
        f"{target.url} takes no connection: port {target.port} is held by {owner}, which has {files.used} "
        f'files open of the {files.limit} its limit allows (see "Open-file limit too low")'
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `checks doctor | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    site = site_url(args.site_url)
    out = Console(no_color="NO_COLOR" in os.environ, soft_wrap=True)
    err = Console(stderr=True)
    try:
        limits = thresholds.load(args.thresholds)
        if args.command == "thresholds":
            if args.json:
                print(json.dumps({k: {**vars(t), "for": t.for_} for k, t in limits.items()}, indent=2, default=str))
            elif out.is_terminal:
                render.thresholds_table(out, limits, site)
            else:
                print(render.thresholds_plain(limits, site))
            return EXIT_OK
        data_dir = _data_dir(args.data_dir)
        if args.command == "run":
            env = environment(args.url, data_dir)
            page = run_page(args.page, env, args.block_timeout, args.allow_mutating)
            render.run_report(out, page)
            return EXIT_FOUND if page.failed else EXIT_OK
        target = Target(args.url, args.timeout)
        try:
            if args.command == "host" and not target.is_local:  # before any network: it measures this machine
                raise CheckError(
                    f"host checks measure this machine, but {target.url} is another host; "
                    f"run `checks host` on the backend's host"
                )
            try:
                if args.command != "fleet":  # the fleet is read from the bus, whichever instance is down
                    target.identify()  # liveness first: a down or hung backend explains everything else
            except (TargetUnreachable, TargetTimeout, NotABackend) as exc:
                why = _out_of_files(target) or f"{exc}{_who_listens(target, exc)}"
                why, slug = _one_of_several(why, target, limits)
                raise CheckError(f"{why}; open {runbook_url(site, slug, instance_of(target.url))}") from None
            ctx = Context(target, limits, args.interval, args.samples, data_dir)
            names = list(CHECKS) if args.command == "doctor" else [args.command]
            show_progress = err.is_terminal and not args.json
            if show_progress:
                with err.status(f"probing {target.url} ({', '.join(names)})"):
                    results = _run_checks(ctx, names, args.command == "doctor")
            else:
                results = _run_checks(ctx, names, args.command == "doctor")
        finally:
            target.close()
        if all(r.status is Status.SKIP for r in results):
            raise CheckError("nothing could be measured: " + "; ".join(sorted({r.detail for r in results})))
    except (CheckError, PageError) as exc:
        print(f"checks: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("checks: interrupted", file=sys.stderr)
        return EXIT_UNUSABLE
    results = ranked(results)
    if args.json:
        print(render.results_json(target.url, results, site))
    elif out.is_terminal:
        render.results_table(out, target.url, results, site)
    else:
        print(render.results_plain(target.url, results, site))
    return EXIT_OK if render.overall(results) is Status.OK else EXIT_FOUND
