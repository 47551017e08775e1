"""The macros pages call, by data source; :func:`collect` gives them to mkdocs-macros by name.

Each source is a small class over :class:`~docsite.data.SiteData` whose public methods are the
macros. A page asking for a key that does not exist fails the build naming the page and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docsite.data import SiteData
from docsite.macros.charts import ChartMacros
from docsite.macros.client import ClientMacros
from docsite.macros.drills import DrillMacros
from docsite.macros.figures import FigureMacros
from docsite.macros.limits import LimitMacros
from docsite.macros.pages import PageMacros
from docsite.macros.settings import SettingsMacros
from docsite.macros.verification import VerificationMacros

__all__ = ["SOURCES", "collect"]

SOURCES = (
    LimitMacros,
    SettingsMacros,
    FigureMacros,
    DrillMacros,
    VerificationMacros,
    PageMacros,
    ChartMacros,
    ClientMacros,
)


def collect(data: SiteData) -> dict[str, Callable[..., Any]]:
    """Every macro of every source, by its name; two sources defining one name is a bug."""
    found: dict[str, Callable[..., Any]] = {}
    for source in SOURCES:
        instance = source(data)
        for name in (n for n in vars(source) if not n.startswith("_")):
            if name in found:
                raise TypeError(f"macro {name!r} is defined by two sources")
            found[name] = getattr(instance, name)
    return found
