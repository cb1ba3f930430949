"""JSON and JSON Lines: one document per record.

A record with a ``text`` (or ``content``) field becomes a document of that text; ``title`` and ``id``
are used when present, ``metadata`` (an object) becomes its metadata, and so do the record's other
scalar fields. A record without a text field is written out as ``key: value`` lines. A JSON file holds
one record or a list of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing.document import Block, ParsedDocument
from podium.knowledge.parsing.text import decode, paragraphs

__all__ = ["parse_json", "parse_jsonl"]

_TEXT_FIELDS = ("text", "content", "body")


def parse_json(data: bytes, *, name: str) -> list[ParsedDocument]:
    text = decode(data, name=name)
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise DocumentRejected(f"{name} is not valid JSON: {exc}", code="invalid_document") from None
    if isinstance(value, list):
        return _documents(value, name, media_type="application/json")
    [doc] = _documents([value], name, media_type="application/json")
    return [dataclasses.replace(doc, suffix="")]  # one record: the file is the document


def parse_jsonl(data: bytes, *, name: str) -> list[ParsedDocument]:
    text = decode(data, name=name)
    items: list[Any] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(msgspec.json.decode(line))
        except msgspec.DecodeError as exc:
            raise DocumentRejected(
                f"{name}, line {number}: not valid JSON: {exc}", code="invalid_document"
            ) from None
    return _documents(items, name, media_type="application/x-ndjson")


def _documents(items: list[Any], name: str, *, media_type: str) -> list[ParsedDocument]:
    docs: list[ParsedDocument] = []
    for index, item in enumerate(items):
        doc = _document(item, index, name, media_type)
        if doc is not None:
            docs.append(doc)
    if not docs:
        raise DocumentRejected(f"{name} holds no records with text.", code="empty_document")
    return docs


def _document(item: Any, index: int, name: str, media_type: str) -> ParsedDocument | None:
    if not isinstance(item, dict):
        text = item if isinstance(item, str) else msgspec.json.encode(item).decode()
        if not text.strip():
            return None
        return ParsedDocument(
            title=f"{name} #{index}", blocks=_blocks(text), media_type=media_type, suffix=f"#{index}"
        )
    ident = item.get("id", item.get("_id", index))
    field = next((f for f in _TEXT_FIELDS if isinstance(item.get(f), str)), None)
    metadata: dict[str, Any] = {}
    if isinstance(item.get("metadata"), dict):
        metadata.update(item["metadata"])
    if field is None:
        text = "\n".join(f"{k}: {_scalar(v)}" for k, v in item.items() if k != "metadata")
    else:
        text = item[field]
        for key, value in item.items():
            if key not in (field, "metadata", "title", "id", "_id") and isinstance(
                value, str | int | float | bool
            ):
                metadata.setdefault(key, value)
    if not text.strip():
        return None
    title = str(item.get("title") or f"{name} #{ident}")
    return ParsedDocument(
        title=title, blocks=_blocks(text), media_type=media_type, suffix=f"#{ident}", metadata=metadata
    )


def _blocks(text: str) -> tuple[Block, ...]:
    return tuple(Block("paragraph", p) for p in paragraphs(text))


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()
