"""A page as the reader meets it: the code blocks of the rendered HTML, each with the text its copy
button puts on the clipboard, and what Markdown leaked into the page as text.

The reader copies commands from the published page, not from the Markdown source, so the rehearsal
runs :attr:`Rendered.copy` and the site check compares the rendered blocks with the source's. The copy
text follows ``docs/assets/copy-console.js`` (a console block copies its ``$`` commands without the
prompt or the output) and Material's button (any other block copies its text, trailing space cut);
a browser test holds the two to the same result.
"""

from __future__ import annotations

import dataclasses
import html.parser
import re

__all__ = ["Rendered", "leaks", "rendered_blocks"]

_LANGUAGE = re.compile(r"\blanguage-([\w+-]+)")
# Markdown that should have been read, not shown: a fence line, a safety label's tag, a directive
_FENCE_LINE = re.compile(r"^\s*(```|~~~)")
_RAW = re.compile(r"```|~~~|<span class=\"safety|<!--\s*checks:|</?(div|span|details|summary)\b")
_SHOWS_MARKDOWN = frozenset({"markdown", "md", "html"})  # code that is Markdown on purpose (the authoring guide)


@dataclasses.dataclass(frozen=True)
class Rendered:
    """One code block of the rendered page."""

    language: str  # from its ``language-X`` class; "text" for an indented block
    text: str  # what the block shows

    @property
    def copy(self) -> str:
        """What the block's copy button puts on the clipboard."""
        if self.language != "console":
            return self.text.rstrip()
        commands: list[str] = []
        continuing = False
        for line in self.text.split("\n"):
            if line.startswith("$ "):
                commands.append(line[2:])
                continuing = line.endswith("\\")
            elif continuing:
                commands.append(line)
                continuing = line.endswith("\\")
        return "\n".join(commands) if commands else self.text.rstrip()


class _Reader(html.parser.HTMLParser):
    """Collects ``<pre><code>`` blocks with their language, and the text outside any code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Rendered] = []
        self.prose: list[str] = []
        self._language = "text"
        self._pre = 0
        self._code: list[str] | None = None
        self._inline_code = 0
        self._script = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "div" and (match := _LANGUAGE.search(classes)):
            self._language = match[1]
        elif tag == "pre":
            self._pre += 1
            if match := _LANGUAGE.search(classes):
                self._language = match[1]
        elif tag == "code":
            if self._pre and self._code is None:
                self._code = []
            else:
                self._inline_code += 1
        elif tag in ("script", "style"):
            self._script += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None and self._inline_code == 0:
            self.blocks.append(Rendered(self._language, "".join(self._code)))
            self._code = None
            self._language = "text"
        elif tag == "code" and self._inline_code:
            self._inline_code -= 1
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag in ("script", "style"):
            self._script = max(0, self._script - 1)

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)
        elif not (self._inline_code or self._script or self._pre):
            self.prose.append(data)


def _read(page: str) -> _Reader:
    reader = _Reader()
    reader.feed(page)
    reader.close()
    return reader


def rendered_blocks(page: str) -> list[Rendered]:
    """The code blocks of a rendered HTML page, in page order."""
    return _read(page).blocks


def leaks(page: str) -> list[str]:
    """Markdown or HTML the page shows as text: a fence or a safety label inside a code block that is
    not Markdown on purpose (a list item indented three spaces turns the rest into one), or a fence,
    directive or tag in the prose. One line per leak, quoting it."""
    reader = _read(page)
    found: list[str] = []
    for block in reader.blocks:
        if block.language in _SHOWS_MARKDOWN:
            continue
        for line in block.text.splitlines():
            if _FENCE_LINE.match(line) or '<span class="safety' in line or re.search(r"<!--\s*checks:", line):
                found.append(f"shown as code, not read as Markdown: {line.strip()[:80]!r}")
                break
    prose = "".join(reader.prose)
    found += [
        f"shown as text: {m[0]!r} in {prose[max(0, m.start() - 40) : m.end() + 20]!r}" for m in _RAW.finditer(prose)
    ]
    return found
