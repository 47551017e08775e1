"""The package boundaries of DESIGN.md: curated public surfaces, and checks never importing backend."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["backend", "checks"])
def test_public_names_exist(package: str) -> None:
    """Assert every name in __all__ is importable from the package."""
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists missing names {missing}"


@pytest.mark.parametrize(("package", "forbidden"), [("checks", "backend"), ("backend", "checks")])
def test_packages_do_not_import_each_other(package: str, forbidden: str) -> None:
    """Assert the CLI works against any deployment: checks never imports backend, nor the reverse."""
    offenders = []
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for n in names
                          if n == forbidden or n.startswith(forbidden + ".")]
    assert not offenders, f"{package} imports {forbidden} at {offenders}"
