"""OpenAI Responses API: the input items of a stored response (``GET /v1/responses/{id}/input_items``).

A stored response keeps the canonical conversation it was answered from (every earlier turn of a
``previous_response_id`` chain, then this request's input; ``instructions`` apart, as OpenAI keeps
them). Listing turns those messages back into Responses items — ``message`` (``input_text`` /
``input_image`` parts; ``output_text`` for assistant turns), ``reasoning``, ``function_call``,
``function_call_output`` — each with an id derived from the response's id and the item's position,
so the same listing always names an item the same way and ``after`` can page through it.

``include``: ``message.input_image.image_url`` adds the URLs of input images (left out otherwise, as
OpenAI does); the other values OpenAI defines ask for fields of items Podium never stores (file
search results, encrypted reasoning…) and add nothing; any other value is a 400.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from podium.canonical import ImagePart, Message, Part, TextPart
from podium.errors import RequestError

__all__ = ["INCLUDABLE", "ItemsQuery", "input_items", "items_page", "parse_items_query"]

# The values of OpenAI's ``ResponseIncludable``.
INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    after: str | None = None
    limit: int = DEFAULT_LIMIT
    order: Literal["asc", "desc"] = "desc"  # OpenAI's default: the latest item first
    include: frozenset[str] = frozenset()


def parse_items_query(query: Any) -> ItemsQuery:
    """The list parameters from a query multidict (``include[]=`` as the SDK sends it, or ``include=``)."""
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise RequestError(f"`limit` must be an integer, got '{raw_limit}'.", param="limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise RequestError(f"`limit` must be between 1 and {MAX_LIMIT}, got {limit}.", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise RequestError(f"`order` must be 'asc' or 'desc', got '{order}'.", param="order")
    include = [*query.getall("include[]", ()), *query.getall("include", ())]
    for value in include:
        if value not in INCLUDABLE:
            raise RequestError(
                f"Unknown `include` value '{value}'; known are {', '.join(sorted(INCLUDABLE))}.",
                param="include",
            )
    after = query.get("after") or None
    return ItemsQuery(
        after=after, limit=limit, order="asc" if order == "asc" else "desc", include=frozenset(include)
    )


def _input_parts(content: str | tuple[Part, ...] | None, include: frozenset[str]) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    with_urls = "message.input_image.image_url" in include
    out: list[dict[str, Any]] = []
    for p in content:
        if isinstance(p, TextPart):
            out.append({"type": "input_text", "text": p.text})
        elif isinstance(p, ImagePart):
            url = p.url if with_urls else None
            out.append(
                {"type": "input_image", "detail": p.detail or "auto", "image_url": url, "file_id": None}
            )
    return out


def _items_of(m: Message, new_id: Callable[[str], str], include: frozenset[str]) -> list[dict[str, Any]]:
    if m.role == "tool":
        output: str | list[dict[str, Any]] = (
            m.content if isinstance(m.content, str) else _input_parts(m.content, include)
        )
        return [
            {
                "type": "function_call_output",
                "id": new_id("fco"),
                "call_id": m.tool_call_id or "",
                "output": output if m.content is not None else "",
                "status": "completed",
            }
        ]
    if m.role != "assistant":
        return [
            {
                "type": "message",
                "id": new_id("msg"),
                "role": m.role,
                "content": _input_parts(m.content, include),
                "status": "completed",
            }
        ]
    out: list[dict[str, Any]] = []
    for r in m.reasoning:
        content = [{"type": "reasoning_text", "text": r.text}] if r.text else []
        out.append({"type": "reasoning", "id": new_id("rs"), "summary": [], "content": content})
    text = m.text()
    if text:
        out.append(
            {
                "type": "message",
                "id": new_id("msg"),
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
                "status": "completed",
            }
        )
    out.extend(
        {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": c.id,
            "name": c.name,
            "arguments": c.arguments,
            "status": "completed",
        }
        for c in m.tool_calls
    )
    return out


def input_items(
    messages: tuple[Message, ...], *, response_id: str, include: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The items of ``messages`` in conversation order, ids derived from ``response_id``."""
    stem = response_id.removeprefix("resp_")
    positions = itertools.count()

    def new_id(prefix: str) -> str:
        return f"{prefix}_{stem}_{next(positions)}"

    return [item for m in messages for item in _items_of(m, new_id, include)]


def items_page(items: list[dict[str, Any]], q: ItemsQuery) -> dict[str, Any]:
    """OpenAI's cursor page of ``items`` (given in conversation order) for the query."""
    ordered = items if q.order == "asc" else items[::-1]
    start = 0
    if q.after is not None:
        position = next((i for i, item in enumerate(ordered) if item["id"] == q.after), None)
        if position is None:
            raise RequestError(f"No input item with id '{q.after}' in this response.", param="after")
        start = position + 1
    data = ordered[start : start + q.limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + q.limit < len(ordered),
    }
