"""The handbook's site machinery, as one MkDocs plugin (entry point ``handbook``).

Reads ``checks`` (limits, the page parser) and ``scripts.results`` (figures); nothing imports it.
"""

from docsite.config import HandbookConfig
from docsite.data import MacroError, SiteData
from docsite.plugin import HandbookPlugin

__all__ = ["HandbookConfig", "HandbookPlugin", "MacroError", "SiteData"]
