"""What every parser produces: a document as a title and a sequence of structural blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Block", "BlockKind", "ParsedDocument"]

BlockKind = Literal["heading", "paragraph", "code", "table"]


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str
    level: int = 0  # a heading's level, 1 = top
    page: int | None = None  # the page it starts on (PDF)


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """One document's text, in reading order. ``suffix`` tells the documents of one file apart
    (JSONL: ``#<id>``); ``metadata`` holds what the file says about itself (front matter, a record's
    fields), below whatever the caller gives."""

    title: str
    blocks: tuple[Block, ...]
    media_type: str
    suffix: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)
