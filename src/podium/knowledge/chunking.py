"""Structure-aware chunking: sections by heading, paragraphs packed up to a token budget, long
paragraphs split by sentence, and a tail of the previous chunk carried into the next as overlap.

A chunk never spans two sections, so a passage is always about what its heading says; the heading
path (``Title > Section > Subsection``) travels with it, is indexed for full-text search with a lower
weight and is embedded with the text. Tokens here are words and punctuation marks (the regex below):
close enough to a subword tokenizer's count to size chunks, and free to compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from podium.knowledge.parsing.document import Block, ParsedDocument

__all__ = ["Chunk", "chunk_document", "count_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class Chunk:
    ord: int
    text: str
    heading: str
    page: int | None
    tokens: int


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


def _tail(text: str, tokens: int) -> str:
    """The last ``tokens`` tokens of ``text``, from the start of the first of them."""
    if tokens <= 0:
        return ""
    starts = [m.start() for m in _TOKEN.finditer(text)]
    if len(starts) <= tokens:
        return text
    return text[starts[-tokens] :]


def _windows(text: str, size: int, overlap: int) -> list[str]:
    """Hard windows of ``size`` tokens, each starting ``size - overlap`` tokens after the last."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    step = max(1, size - overlap)
    out: list[str] = []
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        out.append(text[spans[first][0] : spans[last][1]])
        if last == len(spans) - 1:
            break
    return out


def _pieces(block: Block, size: int, overlap: int) -> list[str]:
    """A block's text in pieces of at most ``size`` tokens: whole, by sentences, or by windows."""
    if count_tokens(block.text) <= size:
        return [block.text]
    if block.kind in ("code", "table"):
        lines = block.text.split("\n")
        if all(count_tokens(line) <= size for line in lines):
            return _pack(lines, size, "\n")
        return _windows(block.text, size, overlap)
    sentences = _SENTENCE.split(block.text)
    out: list[str] = []
    for sentence in sentences:
        out.extend([sentence] if count_tokens(sentence) <= size else _windows(sentence, size, overlap))
    return _pack(out, size, " ")


def _pack(parts: list[str], size: int, joiner: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    used = 0
    for part in parts:
        n = count_tokens(part)
        if current and used + n > size:
            out.append(joiner.join(current))
            current, used = [], 0
        current.append(part)
        used += n
    if current:
        out.append(joiner.join(current))
    return out


def chunk_document(doc: ParsedDocument, *, max_tokens: int = 200, overlap: int = 30) -> list[Chunk]:
    """``doc`` as chunks of at most about ``max_tokens`` tokens (plus up to ``overlap`` carried over)."""
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []
    parts: list[str] = []
    used = 0
    page: int | None = None

    def heading() -> str:
        names = [doc.title] if doc.title else []
        for _, text in path:
            if not names or text != names[-1]:
                names.append(text)
        return " > ".join(names)

    def flush(carry: bool) -> None:
        nonlocal parts, used, page
        text = "\n\n".join(parts).strip()
        if text:
            chunks.append(Chunk(len(chunks), text, heading(), page, count_tokens(text)))
        tail = _tail(parts[-1], overlap) if carry and parts and overlap else ""
        parts = [tail] if tail else []
        used = count_tokens(tail) if tail else 0

    for block in doc.blocks:
        if block.kind == "heading":
            flush(carry=False)
            while path and path[-1][0] >= max(1, block.level):
                path.pop()
            path.append((max(1, block.level), block.text))
            page = None
            continue
        for piece in _pieces(block, max_tokens, overlap):
            n = count_tokens(piece)
            if parts and used + n > max_tokens:
                flush(carry=True)
            if not parts or page is None:
                page = block.page
            parts.append(piece)
            used += n
    flush(carry=False)
    return chunks
