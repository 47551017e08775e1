"""``checks run PAGE.md``: run a page's console blocks against a target and report every step."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from pages import CONSOLE, Outcome, Safety, parse_file, run_step

__all__ = ["PageRun", "run_page"]


@dataclasses.dataclass
class PageRun:
    """Every step's outcome, and the blocks left out with the reason."""

    path: Path
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    skipped: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    def summary(self) -> str:
        passed = len(self.outcomes) - len(self.failed)
        text = f"{self.path}: {passed} of {len(self.outcomes)} steps passed, {len(self.skipped)} blocks skipped"
        if self.failed:
            text += "; differed at line " + ", ".join(str(o.step.line) for o in self.failed)
        return text


def run_page(path: Path, env: Mapping[str, str], timeout: float, allow_mutating: bool) -> PageRun:
    """Run every console block; a failed step does not stop the run. ``timeout`` is per command,
    unless the block's directive gives its own (``checks: timeout=120``)."""
    run = PageRun(path)
    for block in parse_file(path):
        if block.language != CONSOLE:
            continue
        if block.skipped_here:
            run.skipped.append((block.start, f"{block.safety.value}: {block.skip_reason}"))
            continue
        if block.safety in (Safety.MUTATING, Safety.DESTRUCTIVE) and not allow_mutating:
            run.skipped.append((block.start, f"{block.safety.value}: rerun with --allow-mutating to run it"))
            continue
        for step in block.steps:
            run.outcomes.append(run_step(step, env, block.timeout or timeout, Path.cwd()))
    return run
