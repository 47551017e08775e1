"""The plugin's typed settings in ``mkdocs.yml``; a wrong type or a missing path stops the build."""

from __future__ import annotations

from mkdocs.config import base
from mkdocs.config import config_options as c

__all__ = ["HandbookConfig"]


class HandbookConfig(base.Config):
    """``plugins: - handbook: {...}``; paths are relative to ``mkdocs.yml``."""

    thresholds = c.File(exists=True, default="checks/thresholds.yaml")
    """Every limit: the values pages print and the alerts' runbooks."""
    results = c.Dir(exists=True, default="results")
    """Where `make bench`, `make drill`, `make soak` and `make test` write their figures."""
    runbooks = c.Dir(exists=True, default="runbooks")
    """The runbook pages, published under /runbooks/ beside docs/."""
    stale_after_days = c.Type(int, default=30)
    """A figure older than this is flagged stale on its page."""
    fail_on_error = c.Type(bool, default=True)
    """A page or macro error stops the build (``make site``, ``make test``, ``make publish``); false for
    ``make serve``, where the error is shown in the page and the terminal and the server keeps running."""
