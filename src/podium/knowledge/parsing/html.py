"""HTML with the standard library's parser: headings, paragraphs, list items, preformatted text and
tables become blocks; scripts, styles, navigation and the like are left out."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument
from podium.knowledge.parsing.text import decode

__all__ = ["parse_html"]

_SKIP = frozenset(
    {"script", "style", "noscript", "template", "svg", "head", "title", "nav", "footer", "iframe", "object"}
)
_BLOCK = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "section", "article", "main",
        "header", "aside", "figure", "figcaption", "br", "hr", "form", "fieldset", "address", "details",
        "summary", "body", "html",
    }
)  # fmt: skip
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SPACE = re.compile(r"\s+")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._text: list[str] = []
        self._skip = 0
        self._in_title = False
        self._pre = 0
        self._heading = 0
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self._skip += 1
            return
        if self._skip:
            return
        if tag in _HEADINGS or tag in _BLOCK or tag == "pre":
            self._flush()
        if tag in _HEADINGS:
            self._heading = _HEADINGS[tag]
        elif tag == "pre":
            self._pre += 1
        elif tag == "table":
            self._flush()
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in ("td", "th") and self._rows is not None and self._cell is not None:
            if not self._rows:
                self._rows.append([])
            self._rows[-1].append(_SPACE.sub(" ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "table" and self._rows is not None:
            lines = [" | ".join(c for c in row) for row in self._rows if any(row)]
            if lines:
                self.blocks.append(Block("table", "\n".join(lines)))
            self._rows = None
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _HEADINGS or tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._rows is None:
            self._text.append(data)

    def _flush(self) -> None:
        raw = "".join(self._text)
        self._text = []
        if self._pre:
            text = raw.strip("\n")
            if text.strip():
                self.blocks.append(Block("code", text))
            return
        text = _SPACE.sub(" ", raw).strip()
        if not text:
            return
        if self._heading:
            self.blocks.append(Block("heading", text, level=self._heading))
            self._heading = 0
        else:
            self.blocks.append(Block("paragraph", text))

    def close(self) -> None:
        super().close()
        self._flush()


def parse_html(data: bytes, *, name: str) -> ParsedDocument:
    reader = _Reader()
    reader.feed(decode(data, name=name))
    reader.close()
    if not reader.blocks:
        raise DocumentRejected(
            f"{name} holds no text outside scripts, styles and navigation.", code="empty_document"
        )
    title = _SPACE.sub(" ", reader.title).strip() or next(
        (b.text for b in reader.blocks if b.kind == "heading"), name.rsplit("/", 1)[-1]
    )
    return ParsedDocument(title=title, blocks=tuple(reader.blocks), media_type="text/html")
