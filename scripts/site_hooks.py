"""MkDocs hooks: publish ``runbooks/`` under ``/runbooks/`` and show each block's safety class.

Runbooks live at the repository root (they are the product, next to the code they operate), so
they are added to the site here rather than moved under ``docs/``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parent.parent
RUNBOOKS = REPO / "runbooks"
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)<!--\s*checks:\s*(?P<word>[a-z-]+)\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$",
                        re.MULTILINE)
LABELS = {
    "read-only": ("read-only", "Read-only: safe to run at any time."),
    "mutating": ("mutating", "Mutating: changes state on the target. Run it when this step says so."),
    "destructive": ("destructive", "Destructive: stops, deletes or restarts. Be sure before you run it."),
    "skip": ("skip", "Not run by the test suite: {reason}."),
}


def on_files(files: Files, config: Any) -> Files:
    """Add every runbook page, keeping its ``runbooks/`` path as its URL."""
    for path in sorted(RUNBOOKS.rglob("*.md")):
        files.append(File(str(path.relative_to(REPO)), str(REPO), config["site_dir"], config["use_directory_urls"]))
    return files


def _label(match: re.Match[str]) -> str:
    kind, text = LABELS.get(match["word"], ("unknown", "Unknown safety class."))
    text = text.format(reason=html.escape(match["reason"] or "no reason given"))
    return f'{match["indent"]}<span class="safety safety-{kind}">{text}</span>\n'


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Turn each ``<!-- checks: ... -->`` directive into a visible label above its block."""
    return _DIRECTIVE.sub(_label, markdown)
