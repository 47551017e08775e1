"""``backend serve`` (one server process) and ``backend supervise`` (the server, kept alive).

Exit codes: 0 stopped cleanly, 2 bad settings or arguments, 3 another supervisor holds the data
directory, 4 crash loop (the server kept dying at start). Settings come from ``BACKEND_*``
environment variables (``backend settings`` lists them with their defaults).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from backend.settings import SPECS, Settings, SettingsError, SettingSpec

__all__ = ["EXIT_BAD_SETTINGS", "EXIT_CRASH_LOOP", "EXIT_LOCKED", "EXIT_OK", "main"]

EXIT_OK = 0
EXIT_BAD_SETTINGS = 2
EXIT_LOCKED = 3
EXIT_CRASH_LOOP = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backend", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run one server process in the foreground")
    serve.add_argument("--restarts", type=int, default=0, help=argparse.SUPPRESS)  # from the supervisor
    serve.add_argument("--restarted-at", default="", help=argparse.SUPPRESS)  # epoch seconds, comma-separated
    serve.add_argument("--watchdog-kills", type=int, default=0, help=argparse.SUPPRESS)
    sub.add_parser("supervise", help="run the server under the supervisor (what `make backend` does)")
    sub.add_parser(
        "settings", help="list every BACKEND_* variable with the value this environment gives it (exit 2 if bad)"
    )
    return parser


def _write(text: str) -> int:
    """Print, tolerating a reader that stopped early (``backend settings | head``)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return EXIT_OK


def _setting_line(spec: SettingSpec, settings: Settings) -> str:
    """``NAME=value  # unit: why``, the value this environment gives (what a restart would run with),
    the default named when it differs; a secret shows only whether it is set."""
    value: object = getattr(settings, spec.field)
    if spec.field == "faults_token":
        value = "(set)" if value else ""
    changed = f" (default {spec.default})" if str(value) != str(spec.default) and spec.field != "data_dir" else ""
    return f"{spec.env}={value}  # {spec.unit}: {spec.doc}{changed}\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"backend: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if args.command == "settings":
        return _write("".join(_setting_line(spec, settings) for spec in SPECS))
    if args.command == "serve":
        from backend.restarts import Restarts
        from backend.server import serve

        serve(settings, Restarts.parse(args.restarts, args.restarted_at, args.watchdog_kills))
        return EXIT_OK
    from backend.supervisor import CrashLoopError, LockHeld, Supervisor

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return Supervisor(settings).run()
    except LockHeld as exc:
        print(f"backend supervise: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except CrashLoopError as exc:
        print(f"backend supervise: {exc}", file=sys.stderr)
        return EXIT_CRASH_LOOP
