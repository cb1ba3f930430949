"""PDF with ``pypdf`` (pure Python): the text of each page, paragraph by paragraph, with its page number.

An encrypted PDF is opened with the empty password (many are "encrypted" only to restrict printing);
one that needs a real password is refused as ``password_protected``. A file ``pypdf`` cannot read is
``corrupt_document``; a PDF without extractable text (scanned pages) is ``empty_document``.
"""

from __future__ import annotations

import io
import logging

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument
from podium.knowledge.parsing.text import paragraphs

__all__ = ["parse_pdf"]

# pypdf reports every recoverable oddity of a damaged file on its logger; the outcome is what counts.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def parse_pdf(data: bytes, *, name: str) -> ParsedDocument:
    from pypdf import PdfReader

    if not data.strip():
        raise DocumentRejected(f"{name} is empty.", code="empty_document")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _opens_without_password(reader):
            raise DocumentRejected(
                f"{name} is protected by a password; remove the protection and send it again.",
                code="password_protected",
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        title = ""
        info = reader.metadata
        if info is not None and info.title:
            title = str(info.title).strip()
    except DocumentRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds of errors on damaged files
        raise DocumentRejected(f"{name} is not a readable PDF: {exc}", code="corrupt_document") from None
    blocks = tuple(
        Block("paragraph", " ".join(p.split()), page=number)
        for number, text in enumerate(pages, start=1)
        for p in paragraphs(text)
    )
    if not blocks:
        raise DocumentRejected(
            f"{name} has no extractable text (scanned pages need OCR before they can be ingested).",
            code="empty_document",
        )
    return ParsedDocument(title=title or name.rsplit("/", 1)[-1], blocks=blocks, media_type="application/pdf")


def _opens_without_password(reader: object) -> bool:
    from pypdf import PdfReader

    assert isinstance(reader, PdfReader)
    try:
        return bool(reader.decrypt(""))
    except Exception as exc:  # noqa: BLE001 - an unsupported cipher: it cannot be opened here either
        raise DocumentRejected(f"cannot decrypt this PDF: {exc}", code="password_protected") from None
