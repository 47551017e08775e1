"""A Markdown page as the engine sees it: front matter, ``## `` sections, and every fenced block
with its section, lines and directive.

Sections are found outside fences only: a ``## `` line inside a code block (a heredoc, a Markdown
sample in the authoring guide) is code, not a heading. Line numbers are the page's own, even when
the site hands over the text without its front matter (``first_line``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from pages.blocks import CONSOLE, Block
from pages.directives import Directive, read_directive
from pages.errors import PageError

__all__ = ["INCLUDE", "Document", "as_published", "front_matter", "page_of", "parse", "parse_file", "read_page"]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_H2 = re.compile(r"^## (?P<title>.+?)\s*$")
_SQUASHED_COMMAND = re.compile(r"^\$[^\s$]")
# Material's include line for a shared Markdown snippet, its name relative to the docs directory (a
# config file in a fence is left to pymdownx.snippets, which runs later, inside the conversion)
INCLUDE = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<name>[^"]+\.md)"\s*$')
# libyaml's safe loader where PyYAML was built with it (the pure-Python one is several times slower)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclasses.dataclass(frozen=True)
class Document:
    """One page: where it is, its front matter, its sections (title -> 1-based line range), its blocks."""

    path: Path
    meta: dict[str, Any]
    sections: dict[str, tuple[int, int]]
    blocks: list[Block]

    def in_section(self, name: str) -> list[Block]:
        return [b for b in self.blocks if b.section == name]

    def console(self, section: str | None = None) -> list[Block]:
        return [b for b in self.blocks if b.language == CONSOLE and (section is None or b.section == section)]


def front_matter(text: str) -> dict[str, Any]:
    """The YAML between the leading ``---`` lines of a page (empty when there is none)."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    data = yaml.load(text[4:end], Loader=_LOADER) if end != -1 else None
    return data if isinstance(data, dict) else {}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PageError(f"{path}: no such page; give a Markdown file, e.g. runbooks/backend-down.md") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PageError(f"{path}: cannot read: {exc}") from None


def read_page(path: Path) -> Document:
    """The page at ``path``, parsed; a missing or unreadable page is a :class:`PageError`."""
    return page_of(_read(path), path)


def page_of(text: str, path: Path, first_line: int = 1) -> Document:
    """``text`` (the page ``path``, or its body from line ``first_line`` on) as a document."""
    blocks, sections = _scan(text, path, first_line)
    return Document(path, front_matter(text), sections, blocks)


def as_published(page: Path, docs_dir: Path) -> list[Block]:
    """The blocks of ``page`` and of the snippets it includes, in the order the published page shows
    them; an included block belongs to the section it is included under (a runbook's "Before you
    start", a Mitigate step taken from another page), and keeps its own file and lines."""
    document = read_page(page)
    placed = [(b.start, 0, b) for b in document.blocks]
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if found := INCLUDE.match(line):
            section = next((t for t, (first, last) in document.sections.items() if first <= number <= last), "")
            snippet = read_page(docs_dir / found["name"]).blocks
            placed += [(number, i + 1, dataclasses.replace(b, section=section)) for i, b in enumerate(snippet)]
    return [block for _, _, block in sorted(placed, key=lambda p: p[:2])]


def parse_file(path: Path) -> list[Block]:
    return read_page(path).blocks


def parse(text: str, path: Path, first_line: int = 1) -> list[Block]:
    """Every fenced block of a Markdown text, with its section and directive. ``first_line`` is
    the page line ``text`` starts on, so every line number, in blocks and in errors, is the page's."""
    return _scan(text, path, first_line)[0]


def _scan(text: str, path: Path, first_line: int) -> tuple[list[Block], dict[str, tuple[int, int]]]:
    """One pass over the lines: fences (with the directive above each) and the headings outside them."""
    lines = text.splitlines()
    offset = first_line - 1
    blocks: list[Block] = []
    starts: list[tuple[str, int]] = []
    i = 0
    while i < len(lines):
        if heading := _H2.match(lines[i]):
            starts.append((heading["title"], offset + i + 1))
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = "\n".join(_dedent(line, indent) for line in lines[i + 1 : j])
        language = info.split()[0].lstrip("{.").rstrip("}").lower() if info else ""
        if language == CONSOLE:
            _refuse_squashed(body.splitlines(), offset + i + 2, path)
        section = starts[-1][0] if starts else ""
        blocks.append(
            Block(
                path,
                language,
                info,
                offset + i + 1,
                offset + j + 1,
                body,
                section,
                _directive_above(lines, i, path, offset),
            )
        )
        i = j + 1
    ends = [line for _, line in starts[1:]] + [offset + len(lines) + 1] if starts else []
    sections = {name: (start, end) for (name, start), end in zip(starts, ends, strict=True)}
    return blocks, sections


def _dedent(line: str, indent: str) -> str:
    return line[len(indent) :] if line.startswith(indent) else line.lstrip()


def _directive_above(lines: list[str], fence_index: int, path: Path, offset: int) -> Directive:
    k = fence_index - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    if k < 0:
        return Directive()
    return read_directive(lines[k], f"{path}:{offset + k + 1}", offset + k + 1) or Directive()


def _refuse_squashed(block_lines: list[str], first_line: int, path: Path) -> None:
    """``$df -h`` (no space after ``$``) would silently be expected output instead of a command."""
    for i, line in enumerate(block_lines):
        if _SQUASHED_COMMAND.match(line):
            raise PageError(
                f"{path}:{first_line + i}: '{line.strip()}' starts with '$' but no space; "
                f"write '$ {line[1:].strip()}' for a command"
            )
