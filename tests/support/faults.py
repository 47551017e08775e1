"""Real faults for tests: the drills' own, failing the test loudly where this machine cannot make them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.faults import FaultUnavailable
from scripts.faults.disk import tmpfs as _tmpfs


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """A tmpfs at ``path`` that really fills up; a machine that cannot mount one fails the test, never skips."""
    try:
        with _tmpfs(path, size):
            yield
    except FaultUnavailable as exc:
        pytest.fail(str(exc))
