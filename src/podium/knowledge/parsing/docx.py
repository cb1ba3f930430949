"""Word documents with ``python-docx``: paragraphs in order, ``Heading N`` and ``Title`` styles as
headings, tables row by row. Needs the ``knowledge`` extra (``pip install podium-gateway[knowledge]``)."""

from __future__ import annotations

import io
from typing import Any

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument

__all__ = ["parse_docx"]


def parse_docx(data: bytes, *, name: str) -> ParsedDocument:
    try:
        import docx
    except ImportError:
        raise DocumentRejected(
            f"{name}: reading .docx files needs python-docx (pip install 'podium-gateway[knowledge]').",
            code="unsupported_format",
        ) from None
    if not data.strip():
        raise DocumentRejected(f"{name} is empty.", code="empty_document")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [b for item in document.iter_inner_content() if (b := _block(item)) is not None]
        title = (document.core_properties.title or "").strip()
    except Exception as exc:  # noqa: BLE001 - a damaged package fails in zipfile, lxml or python-docx
        raise DocumentRejected(
            f"{name} is not a readable Word document: {exc}", code="corrupt_document"
        ) from None
    if not blocks:
        raise DocumentRejected(f"{name} holds no text.", code="empty_document")
    title = title or next((b.text for b in blocks if b.kind == "heading"), name.rsplit("/", 1)[-1])
    media = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return ParsedDocument(title=title, blocks=tuple(blocks), media_type=media)


def _block(item: Any) -> Block | None:
    from docx.table import Table

    if isinstance(item, Table):
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows]
        text = "\n".join(r for r in rows if r.strip(" |"))
        return Block("table", text) if text else None
    text = item.text.strip()
    if not text:
        return None
    style = (item.style.name if item.style is not None else "") or ""
    if style == "Title":
        return Block("heading", text, level=1)
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        return Block("heading", text, level=int(level) if level.isdigit() else 1)
    return Block("paragraph", text)
