"""What the macros read, loaded once per build: the limits, the result files, the runbooks.

Paths come from the plugin's typed config (``mkdocs.yml``), never from the environment, so a test
can build a site over crafted results in-process. :attr:`SiteData.page` is the page being
rendered, so every :class:`MacroError` names it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from checks.routing import DEFAULT_SITE_URL
from checks.thresholds import Threshold
from checks.thresholds import load as load_thresholds
from docsite.proof import Git, PageProof, page_proof
from scripts import results

__all__ = ["MacroError", "MacroSource", "SiteData", "not_measured"]


class MacroError(ValueError):
    """A page asked for something that does not exist; the message names the page and the key."""


def not_measured(command: str) -> str:
    """The one empty state of every figure, table and chart: what is missing and what measures it."""
    return f"*not measured yet: run `{command}`*"


@dataclasses.dataclass
class SiteData:
    """The loaded inputs of one build."""

    limits: Mapping[str, Threshold]
    baselines: results.ResultFile | None = None
    recovery: results.ResultFile | None = None
    soak: results.ResultFile | None = None
    test_runs: results.ResultFile | None = None
    runbooks: Path = results.REPO / "runbooks"
    stale_after_days: float = 30
    now: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    page: str = "<no page>"
    root: Path = results.REPO
    site_url: str = DEFAULT_SITE_URL  # where the site is published: the alert rules link under it
    proven_pages: list[str] = dataclasses.field(default_factory=list)  # every page with commands to prove
    git: Git = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.git = Git(self.root)

    @classmethod
    def load(cls, thresholds: Path, results_dir: Path, runbooks: Path, stale_after_days: float, root: Path) -> SiteData:
        """Read every input; a malformed one raises with its path (ThresholdsError, ResultsError)."""
        return cls(
            load_thresholds(thresholds),
            results.load(results_dir / results.BASELINES),
            results.load(results_dir / results.RECOVERY),
            results.load(results_dir / results.SOAK),
            results.load(results_dir / results.TEST_RUNS),
            runbooks,
            stale_after_days,
            root=root,
        )

    def error(self, message: str) -> MacroError:
        return MacroError(f"{self.page}: {message}")

    def is_stale(self, file: results.ResultFile) -> bool:
        return file.age_days(self.now) > self.stale_after_days

    def proof(self, page: str) -> PageProof:
        """The proof state of ``page`` (repository-relative) in the latest test run."""
        return page_proof(page, self.test_runs, self.git, self.now, self.stale_after_days)


class MacroSource:
    """A data source's macros: its public methods, over one build's data (see docsite.macros)."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
