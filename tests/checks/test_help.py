"""What a new user reads first: ``checks --help`` says what each component checks."""

from __future__ import annotations

import pytest

from checks.cli import main
from checks.registry import CHECKS


def test_help_says_what_each_component_checks(capsys: pytest.CaptureFixture[str]) -> None:
    """Assert each component's help line is words about what it checks, not its name in backticks."""
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ") and line.split()}
    for name in CHECKS:
        words = lines[name].split()[1:]
        assert len(words) >= 4, f"checks --help: {name!r} is described as {' '.join(words)!r}"
    assert "connections against capacity" in " ".join(out.split())
