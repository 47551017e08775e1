"""Why a check could not run. Every class carries a one-line message that names what failed and what to try.

::

    CheckError                  the CLI prints it on one line and exits 2
    ├── TargetError             the backend could not be asked
    │   ├── TargetUnreachable   connection refused, DNS, bad URL
    │   ├── TargetTimeout       no answer within --timeout
    │   └── NotABackend         something answered, but not the backend (or garbage)
    └── ThresholdsError         checks/thresholds.yaml is missing or malformed

A page given to ``checks run`` that cannot be read is the page engine's :class:`pages.PageError`,
which the CLI reports the same way.
"""

from __future__ import annotations

__all__ = [
    "CheckError",
    "NotABackend",
    "TargetError",
    "TargetTimeout",
    "TargetUnreachable",
    "ThresholdsError",
]


class CheckError(Exception):
    """Base: the diagnostic itself could not run."""


class TargetError(CheckError):
    """Raised by :mod:`checks.target` when the backend cannot be asked."""


class TargetUnreachable(TargetError):
    """Nothing accepted the connection (refused, unknown host, bad URL)."""


class TargetTimeout(TargetError):
    """The connection or the answer took longer than the timeout."""


class NotABackend(TargetError):
    """An answer came, but not one this backend gives (HTML, garbage, malformed /metrics)."""


class ThresholdsError(CheckError):
    """Raised by :func:`checks.thresholds.load` for a missing or malformed thresholds file."""
