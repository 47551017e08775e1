"""Fixtures: a shared live backend for read-mostly API tests, and a factory for private ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts import live


@pytest.fixture(scope="session")
def shared_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.Live]:
    """One real server process for tests that do not break it."""
    with live.running(tmp_path_factory.mktemp("shared"), max_body_bytes=65536) as backend:
        yield backend


@pytest.fixture
def start_backend(tmp_path: Path) -> Iterator[Callable[..., live.Live]]:
    """Start private backends (``start_backend(mode="supervise", ws_max_connections=3)``); all stopped after."""
    started: list[live.Live] = []

    def factory(mode: str = "serve", wait: bool = True, **settings: object) -> live.Live:
        backend = live.start(tmp_path, mode, wait, **settings)
        started.append(backend)
        return backend

    yield factory
    for backend in reversed(started):
        backend.stop()
