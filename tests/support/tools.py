"""System tools the tests drive for real. A missing one fails the test loudly; CI must not skip it."""

from __future__ import annotations

import shutil

import pytest

__all__ = ["require"]


def require(tool: str, package: str) -> str:
    """The tool's path, or a failing test that says how to get it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(
            f"{tool} not found: this test runs the real tool. `make test` installs Debian's {package} as "
            f"root (scripts/install-system-tools.sh); install it and rerun."
        )
    return path
