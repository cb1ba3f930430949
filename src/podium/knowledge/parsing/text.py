"""Plain text and Markdown: bytes → text in whatever encoding it is in, then blocks.

Decoding tries, in order: a byte-order mark, strict UTF-8, then ``charset-normalizer``'s best guess;
bytes that none of them can read as coherent text are refused as ``unknown_encoding``, and text that
is mostly control characters (a binary file with a .txt name) as ``unsupported_format``.

Markdown keeps its structure: ``#`` headings (and underlined ones), fenced code blocks whole, tables
whole, and YAML-ish front matter (``key: value`` lines between ``---``) as metadata.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument

__all__ = ["decode", "paragraphs", "parse_markdown", "parse_text"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BLANK = re.compile(r"\n\s*\n")
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_FRONT_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def decode(data: bytes, *, name: str) -> str:
    """The text ``data`` holds, with newlines normalised; ``DocumentRejected`` when it holds none."""
    if not data.strip():
        raise DocumentRejected(f"{name} is empty.", code="empty_document")
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise DocumentRejected(
                    f"{name} starts with a {encoding} byte-order mark but is not {encoding}.",
                    code="unknown_encoding",
                ) from None
            break
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _guess(data, name)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(_CONTROL.findall(text)) > max(8, len(text) // 50):
        raise DocumentRejected(f"{name} looks like a binary file, not text.", code="unsupported_format")
    if not text.strip():
        raise DocumentRejected(f"{name} holds no text.", code="empty_document")
    return text


def _guess(data: bytes, name: str) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentRejected(
            f"{name} is not UTF-8, and its encoding cannot be told: convert it to UTF-8 and send it again.",
            code="unknown_encoding",
        )
    return str(best)


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _BLANK.split(text) if p.strip()]


def parse_text(data: bytes, *, name: str) -> ParsedDocument:
    text = decode(data, name=name)
    blocks = tuple(Block("paragraph", p) for p in paragraphs(text))
    return ParsedDocument(title=_stem(name), blocks=blocks, media_type="text/plain")


def parse_markdown(data: bytes, *, name: str) -> ParsedDocument:
    text = decode(data, name=name)
    metadata, text = _front_matter(text)
    blocks: list[Block] = []
    lines = text.split("\n")
    pending: list[str] = []

    def flush() -> None:
        if pending and "".join(pending).strip():
            body = "\n".join(pending).strip()
            is_table = all(line.lstrip().startswith("|") for line in pending if line.strip())
            blocks.append(Block("table" if is_table else "paragraph", body))
        pending.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line.lstrip()):
            flush()
            fence = line.lstrip()[:3]
            code = [line]
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence):
                code.append(lines[i])
                i += 1
            if i < len(lines):
                code.append(lines[i])
            blocks.append(Block("code", "\n".join(code)))
        elif m := _ATX.match(line):
            flush()
            if m.group(2):
                blocks.append(Block("heading", m.group(2), level=len(m.group(1))))
        elif pending and len(pending) == 1 and pending[0].strip() and _SETEXT.match(line):
            heading = pending.pop().strip()
            flush()
            blocks.append(Block("heading", heading, level=1 if line.lstrip()[0] == "=" else 2))
        elif not line.strip():
            flush()
        else:
            pending.append(line)
        i += 1
    flush()
    if not blocks:
        raise DocumentRejected(f"{name} holds no text.", code="empty_document")
    title = str(metadata.get("title") or next((b.text for b in blocks if b.kind == "heading"), _stem(name)))
    return ParsedDocument(title=title, blocks=tuple(blocks), media_type="text/markdown", metadata=metadata)


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text
    found: dict[str, Any] = {}
    for line in text[4:end].split("\n"):
        m = _FRONT_LINE.match(line.strip())
        if m is None:
            if line.strip():
                return {}, text  # not simple key: value lines: leave it to be read as text
            continue
        found[m.group(1)] = m.group(2).strip().strip("\"'")
    return found, text[end + 4 :].lstrip("-\n")


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
