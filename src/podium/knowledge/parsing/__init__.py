"""Documents in, structure out: one parser per format, chosen by media type, file name or content.

============  =====================================  ===================================
format        names                                  media types
============  =====================================  ===================================
text          .txt .text .log .csv .rst               text/plain, text/csv
markdown      .md .markdown                          text/markdown
html          .html .htm .xhtml                      text/html, application/xhtml+xml
pdf           .pdf                                   application/pdf
docx          .docx                                  application/vnd.openxmlformats-…
json          .json                                  application/json
jsonl         .jsonl .ndjson                         application/x-ndjson, application/jsonl
============  =====================================  ===================================

:func:`parse` raises :class:`~podium.knowledge.errors.DocumentRejected` for what it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument

__all__ = ["EXTENSIONS", "Block", "ParsedDocument", "format_of", "parse"]

EXTENSIONS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".csv": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_MEDIA: dict[str, str] = {
    "text/plain": "text",
    "text/csv": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}


def format_of(name: str, media_type: str | None, data: bytes) -> str:
    """The format to read ``data`` as: its media type if known, else its name's extension, else its bytes."""
    if media_type:
        found = _MEDIA.get(media_type.partition(";")[0].strip().lower())
        if found is not None:
            return found
    dot = name.rfind(".")
    if dot > name.rfind("/"):
        found = EXTENSIONS.get(name[dot:].lower())
        if found is not None:
            return found
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx" if b"word/" in data[:65536] else "zip"
    if head[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def parse(data: bytes, *, name: str, media_type: str | None = None) -> list[ParsedDocument]:
    """The documents ``data`` holds (one, or one per record of a JSON/JSONL file)."""
    kind = format_of(name, media_type, data)
    reader = _READERS.get(kind)
    if reader is None:
        raise DocumentRejected(
            f"{name}: Podium reads text, Markdown, HTML, PDF, DOCX, JSON and JSONL, not this file.",
            code="unsupported_format",
            status=415,
        )
    return reader(data, name)


def _text(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.text import parse_text

    return [parse_text(data, name=name)]


def _markdown(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.text import parse_markdown

    return [parse_markdown(data, name=name)]


def _html(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.html import parse_html

    return [parse_html(data, name=name)]


def _pdf(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.pdf import parse_pdf

    return [parse_pdf(data, name=name)]


def _docx(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.docx import parse_docx

    return [parse_docx(data, name=name)]


def _json(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.records import parse_json

    return parse_json(data, name=name)


def _jsonl(data: bytes, name: str) -> list[ParsedDocument]:
    from podium.knowledge.parsing.records import parse_jsonl

    return parse_jsonl(data, name=name)


_READERS: dict[str, Callable[[bytes, str], list[ParsedDocument]]] = {
    "text": _text,
    "markdown": _markdown,
    "html": _html,
    "pdf": _pdf,
    "docx": _docx,
    "json": _json,
    "jsonl": _jsonl,
}
