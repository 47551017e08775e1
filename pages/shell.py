"""Running a page's commands as the reader would: in ``bash -c`` with ``set -euo pipefail``, the
backend's variables set, in their own process group so nothing they start outlives them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pages.blocks import Step
from pages.expect import matches
from pages.report import Outcome

__all__ = ["environment", "run_bash", "run_step", "ws_url_of"]


def ws_url_of(url: str) -> str:
    """The hub's WebSocket URL for a backend base URL (http -> ws, https -> wss)."""
    url = url.rstrip("/")
    return ("wss:" if url.startswith("https:") else "ws:") + url.split(":", 1)[1] + "/ws"


BASH = ("bash", "-c")


def run_bash(
    script: str, env: Mapping[str, str], timeout: float, cwd: Path, shell: Sequence[str] = BASH
) -> tuple[int | None, str]:
    """Run ``script`` in bash (``set -euo pipefail``) in its own process group; its exit status
    (None on timeout) and what it printed. On timeout the whole group is killed: a ``sleep`` or a
    server the script started does not outlive it. ``shell`` is the argv that takes the script as
    its last argument (a root shell on another host, say)."""
    proc = subprocess.Popen(
        [*shell, "set -euo pipefail\n" + script],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a child that left the group still holds the pipe
            proc.kill()
            out = b""
        return None, out.decode(errors="replace")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the script left running in the background


def run_step(step: Step, env: Mapping[str, str], timeout: float, cwd: Path, shell: Sequence[str] = BASH) -> Outcome:
    """Run one command in bash and compare its output and exit status with the page."""
    code, output = run_bash(step.command, env, timeout, cwd, shell)
    if code is None:
        return Outcome(
            step,
            False,
            output,
            None,
            f"TIMEOUT after {timeout:g} s (the command and everything it started were killed)",
            timed_out=True,
        )
    if code != step.exit_code:
        return Outcome(step, False, output, code, f"exit status {code}, page expects {step.exit_code}")
    if not matches(step.expected, output):
        return Outcome(step, False, output, code, "output differs from the page")
    return Outcome(step, True, output, code)


def environment(url: str, data_dir: Path | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a block may use, over the caller's environment (PATH first finds this venv's tools)."""
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    url = url.rstrip("/")
    env["BACKEND_URL"] = url
    env["BACKEND_WS_URL"] = ws_url_of(url)
    env.setdefault("PUBLIC_URL", url)  # the address clients use (a proxy's); the backend's own when none
    if data_dir is not None:
        env["BACKEND_DATA_DIR"] = str(data_dir)
    env.setdefault("NO_COLOR", "1")
    return env
