"""Diagnostics for the backend: checks that return :class:`Result` rows, and the ``checks`` CLI.

Never imports ``backend``: it talks to any deployment over HTTP, WebSocket and /metrics.
"""

from checks.console import Block, Outcome, Safety, Step, parse, parse_file, run_step
from checks.context import Context
from checks.errors import CheckError
from checks.registry import CHECKS
from checks.result import Result, Status
from checks.target import Target
from checks.thresholds import Threshold, load

__all__ = ["CHECKS", "Block", "CheckError", "Context", "Outcome", "Result", "Safety", "Status", "Step", "Target",
           "Threshold", "load", "parse", "parse_file", "run_step"]
