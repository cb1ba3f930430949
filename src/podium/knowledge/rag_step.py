"""The request-path step that grounds a chat call in knowledge bases (retrieval-augmented generation).

A call asks for it with the extension object ``"podium": {"rag": {...}}`` at the top level of its body
(the OpenAI SDKs send it with ``extra_body``; the edge keeps it in ``ChatRequest.extra``), or gets it
because ``knowledge.rag`` configures it for the model name it calls or the prompt it uses
(``prompt:NAME``). The fields are :class:`~podium.config.knowledge.RagSettings`: ``knowledge_bases``,
``k``, ``filter``, ``min_score``, ``mode``, ``rerank``, ``placement``, ``query``.

The step searches for the last user message (or ``query``) in the named knowledge bases of the
caller's tenant, as the caller — their access rules and document filters apply, a base they may not
read is a 403 — and rewrites the request: the passages, numbered, go before the question through
``knowledge.template`` (or, when none reaches ``min_score``, the model is told through
``knowledge.no_context`` that nothing relevant was found). The citations — chunk ids, sources,
scores — go on ``call.extensions["citations"]``, which the edge puts on the answer
(``"podium": {"citations": [...]}``). The ``podium.rag`` object itself never goes upstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from podium.canonical import ChatRequest, Message, TextPart
from podium.config.knowledge import KnowledgeSettings, RagSettings
from podium.errors import RequestError
from podium.gateway.call import Call
from podium.gateway.pipeline import Handler, Step
from podium.knowledge.access import Reader
from podium.knowledge.retrieval import Passage, SearchSettings

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["citations", "rag_steps", "render"]


def _extension(extra: dict[str, Any]) -> tuple[RagSettings | None, dict[str, Any] | None]:
    """The ``podium.rag`` object, and ``extra`` without it (what may still go upstream)."""
    podium = extra.get("podium")
    if not isinstance(podium, dict) or "rag" not in podium:
        return None, extra
    try:
        found = msgspec.convert(podium["rag"], RagSettings)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = text.rsplit("at `$", 1)[1].rstrip("`") if "at `$" in text else ""
        raise RequestError(f"Invalid `podium.rag`: {text}", param=f"podium.rag{where}") from None
    rest = {k: v for k, v in extra.items() if k != "podium"}
    others = {k: v for k, v in podium.items() if k != "rag"}
    if others:
        rest["podium"] = others
    return found, rest or None


def _question(chat: ChatRequest) -> tuple[int, str]:
    for i in range(len(chat.messages) - 1, -1, -1):
        if chat.messages[i].role == "user":
            return i, chat.messages[i].text()
    return -1, ""


def render(settings: KnowledgeSettings, rag: RagSettings, passages: list[Passage], question: str) -> str:
    """The text the model gets: the passages and the question through the template, or the no-context note."""
    if not passages:
        return settings.no_context.replace("{knowledge_bases}", ", ".join(rag.knowledge_bases)).replace(
            "{question}", question
        )
    blocks = []
    for n, p in enumerate(passages, start=1):
        where = p.source + (f" — {p.heading}" if p.heading else "") + (f" (page {p.page})" if p.page else "")
        blocks.append(f"[{n}] {where}\n{p.text}")
    return settings.template.replace("{context}", "\n\n".join(blocks)).replace("{question}", question)


def citations(passages: list[Passage]) -> list[dict[str, Any]]:
    return [
        {
            "index": n,
            "chunk_id": p.id,
            "document_id": p.doc_id,
            "knowledge_base": p.kb_name,
            "source": p.source,
            "title": p.title,
            "heading": p.heading,
            "page": p.page,
            "score": p.score,
            "similarity": p.similarity,
        }
        for n, p in enumerate(passages, start=1)
    ]


def _rewrite(chat: ChatRequest, rag: RagSettings, index: int, text: str) -> tuple[Message, ...]:
    messages = list(chat.messages)
    if rag.placement == "system":
        lead = 0
        while lead < len(messages) and messages[lead].role in ("system", "developer"):
            lead += 1
        messages.insert(lead, Message(role="system", content=text))
        return tuple(messages)
    original = messages[index]
    if isinstance(original.content, tuple):
        images = tuple(p for p in original.content if not isinstance(p, TextPart))
        content: str | tuple[Any, ...] = (TextPart(text=text), *images)
    else:
        content = text
    messages[index] = msgspec.structs.replace(original, content=content)
    return tuple(messages)


def rag_steps(gw: Gateway, api: str) -> list[Step]:
    """The RAG step for chat calls (every inbound chat API); nothing for embeddings."""
    if api != "chat":
        return []

    async def rag(call: Call, call_next: Handler) -> Any:
        chat = call.chat
        if chat is None:
            return await call_next(call)
        settings: RagSettings | None = None
        if chat.extra and "podium" in chat.extra:
            settings, extra = _extension(chat.extra)
            if settings is not None:
                chat = msgspec.structs.replace(chat, extra=extra)
        configured = gw.config.knowledge.rag
        if settings is None and configured:
            settings = configured.get(call.model)
            if settings is None and call.prompt_name is not None:
                settings = configured.get(f"prompt:{call.prompt_name}")
        if settings is None:
            return await call_next(call)
        call.chat = await _ground(gw, call, chat, settings)
        return await call_next(call)

    return [rag]


async def _ground(gw: Gateway, call: Call, chat: ChatRequest, rag: RagSettings) -> ChatRequest:
    index, question = _question(chat)
    query = rag.query or question
    if not query.strip():
        raise RequestError(
            "`podium.rag` needs a user message (or `query`) to search for.", param="podium.rag"
        )
    knowledge = gw.knowledge
    principal = gw.identity.key_principal(call.principal)
    kbs = [await knowledge.get(principal.tenant, name) for name in dict.fromkeys(rag.knowledge_bases)]
    min_score = rag.min_score
    if min_score is None:
        min_score = next(
            (kb.min_score for kb in kbs if kb.min_score is not None), knowledge.settings.min_score
        )
    search = SearchSettings(
        k=rag.k,
        mode=rag.mode,
        bm25_weight=rag.bm25_weight,
        vector_weight=rag.vector_weight,
        rrf_k=rag.rrf_k,
        candidates=max(50, 4 * rag.k),
        rerank=rag.rerank,
        min_score=min_score,
    )
    passages = await knowledge.query(
        kbs,
        Reader.of(principal),
        query,
        search,
        filter=rag.filter,
        principal=call.principal,
        filter_param="podium.rag.filter",
    )
    text = render(knowledge.settings, rag, passages, question)
    if index < 0:  # a `query` without a user message: the context goes in as a system message
        rag = msgspec.structs.replace(rag, placement="system")
    call.extensions["citations"] = citations(passages)
    call.extensions["rag"] = {"knowledge_bases": [kb.name for kb in kbs], "relevant": bool(passages)}
    return msgspec.structs.replace(chat, messages=_rewrite(chat, rag, index, text))
