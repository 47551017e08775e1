"""The on-call reader on the rehearsal host: a published page, its code blocks paired with the
Markdown they came from (for their directives and page lines), and each command run as the copy
button gives it, in a root shell on the host, checked against the output the page shows.

A block whose commands start with ``make`` belongs to the build machine (the checkout): the
rehearsal runs those before it reads the pages they publish, and checks here that the page shows
the very command it ran.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

from pages import RUNNABLE, Block, Outcome, Rendered, Safety, Step, as_published, rendered_blocks, run_step
from pages.blocks import steps_of
from scripts import live
from scripts.rehearsal.host import Host

__all__ = [
    "SNIPPETS",
    "Ran",
    "downloads",
    "on_build_machine",
    "paired",
    "run_block",
    "runs_on_host",
    "source_of",
]

SNIPPETS = live.REPO / "docs" / "snippets"  # included into pages: their blocks are the pages' blocks too
_DOWNLOAD = re.compile(r'href="([^"#?]+\.(?:service|conf|yml))"')


@dataclasses.dataclass
class Ran:
    """One command the reader ran: where the page has it, and how it went."""

    where: str  # page:line of the command in the Markdown source
    command: str
    passed: bool
    report: str
    output: str = ""  # what it printed


def source_of(url_path: str) -> Path:
    """The Markdown page behind a published path (``runbooks/backend-down/`` -> ``runbooks/backend-down.md``)."""
    path = url_path.strip("/").split("?")[0]
    if path.startswith("runbooks/"):
        return live.REPO / f"{path}.md"
    return live.REPO / "docs" / f"{path or 'index'}.md"


def _sources(page: Path) -> list[Block]:
    return [b for b in as_published(page, SNIPPETS.parent) if b.runnable]


def _same(rendered: Rendered, block: Block) -> bool:
    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.strip("\n").splitlines()]

    return lines(rendered.text) == lines(block.text)


def paired(html: str, page: Path) -> tuple[list[tuple[Rendered, Block]], list[Block]]:
    """The rendered page's runnable blocks with their Markdown blocks, in page order; and the Markdown
    blocks of ``page`` the rendered page does not show as a code block with the same text."""
    sources = _sources(page)
    used: set[int] = set()
    pairs: list[tuple[Rendered, Block]] = []
    for rendered in (r for r in rendered_blocks(html) if r.language in RUNNABLE):
        match = next((i for i, b in enumerate(sources) if i not in used and _same(rendered, b)), None)
        if match is not None:
            used.add(match)
            pairs.append((rendered, sources[match]))
    missing = [b for i, b in enumerate(sources) if i not in used and b.path == page]
    return pairs, missing


def on_build_machine(block: Block) -> bool:
    """Whether the block's commands run in the checkout (``make ...``), not on the host."""
    return bool(block.steps) and all(s.command.startswith("make ") for s in block.steps)


def downloads(html: str) -> list[str]:
    """The files a page links for download (a unit, a config), as site paths relative to the page
    (``backend%40.service`` is the file ``backend@.service``, as a browser saves it)."""
    return sorted({urllib.parse.unquote(link) for link in _DOWNLOAD.findall(html)})


def _reader_steps(rendered: Rendered, block: Block) -> tuple[list[Step], str]:
    """The steps as the reader sees them (the rendered text), numbered by the Markdown's lines; and a
    problem when the copy button would give other commands than the page shows."""
    if rendered.language != "console":
        return [Step(rendered.copy, "...", 0, block.start + 1)], ""
    steps = steps_of(rendered.text, block.start + 1)
    shown = "\n".join(s.command for s in steps)
    problem = "" if shown == rendered.copy else f"the copy button gives {rendered.copy!r}, the page shows {shown!r}"
    return steps, problem


def run_block(
    host: Host,
    rendered: Rendered,
    block: Block,
    env: Mapping[str, str],
    say: Callable[[str], None],
    timeout: float = 120.0,
) -> list[Ran]:
    """Run one block's commands in a root shell on the host, as copied from the rendered page."""
    steps, problem = _reader_steps(rendered, block)
    where = block.path.relative_to(live.REPO) if block.path.is_absolute() else block.path
    if problem:
        return [Ran(f"{where}:{block.start}", rendered.copy, False, problem)]
    ran = []
    for step in steps:
        outcome: Outcome = run_step(step, {}, block.timeout or timeout, Path("/"), shell=host.shell(env))
        ran.append(
            Ran(f"{where}:{step.line}", step.command, outcome.passed, outcome.report(Path(str(where))), outcome.output)
        )
        first = step.command.splitlines()[0]
        say(f"  {'ok  ' if outcome.passed else 'FAIL'} {where}:{step.line} $ {first[:110]}")
        if not outcome.passed:
            say(ran[-1].report)
            break  # the reader stops at the first command that does not do what the page says
    return ran


def runs_on_host(block: Block) -> bool:
    """Blocks the reader runs on the host: everything runnable but what only a second machine can do."""
    return block.safety is not Safety.SKIP and not on_build_machine(block)
