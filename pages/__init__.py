"""The page engine: a Markdown page's blocks with their section, line and directive, the
expected-output language, the failure report, and the shell that runs a page's commands.

Used by the site (labels, proof), the lint, Sybil (``tests/support/sybil_pages.py``), the game days
and ``checks run``; it imports none of them. Its own surface is these names.
"""

from __future__ import annotations

from pages.blocks import CONSOLE, PYTHONS, RUNNABLE, SHELLS, Block, Step
from pages.directives import DEFAULT_TIMEOUT, Directive, Safety, State
from pages.document import INCLUDE, Document, as_published, front_matter, page_of, parse, parse_file, read_page
from pages.errors import PageError
from pages.expect import matches
from pages.rendered import Rendered, leaks, rendered_blocks
from pages.report import Outcome
from pages.shell import environment, run_bash, run_step, ws_url_of

__all__ = [
    "CONSOLE",
    "DEFAULT_TIMEOUT",
    "INCLUDE",
    "PYTHONS",
    "RUNNABLE",
    "SHELLS",
    "Block",
    "Directive",
    "Document",
    "Outcome",
    "PageError",
    "Rendered",
    "Safety",
    "State",
    "Step",
    "as_published",
    "environment",
    "front_matter",
    "leaks",
    "matches",
    "page_of",
    "parse",
    "parse_file",
    "read_page",
    "rendered_blocks",
    "run_bash",
    "run_step",
    "ws_url_of",
]
