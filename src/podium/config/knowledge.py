"""Knowledge bases and retrieval-augmented generation in ``podium.yaml`` (docs/knowledge-bases.md).

::

    knowledge:
      embedding_model: local:minilm      # for new knowledge bases; or any embeddings model served here
      max_document_bytes: 52428800
      min_score: 0.25                    # cosine similarity below which a passage is not relevant
      rag:
        support:                         # a public model name, or prompt:NAME: RAG on every call
          knowledge_bases: [handbook]
          k: 4
          filter: {public: true}

Knowledge bases themselves are created at run time (API, CLI) and live in storage. The checks of
meaning are :func:`check_knowledge`, run by the loader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = ["DEFAULT_NO_CONTEXT", "DEFAULT_TEMPLATE", "KnowledgeSettings", "RagSettings", "check_knowledge"]

DEFAULT_TEMPLATE = (
    "Answer the question using the numbered passages below. Cite the passages you use by their number "
    "in square brackets, like [1]. If the passages do not contain the answer, say that you do not know.\n\n"
    "{context}\n\nQuestion: {question}"
)
DEFAULT_NO_CONTEXT = (
    "No relevant passages were found in the knowledge bases ({knowledge_bases}) for this question. "
    "Say that you could not find the answer in them rather than guessing.\n\nQuestion: {question}"
)


class _Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RagSettings(_Item, frozen=True):
    """Retrieval for the calls of one model name (or prompt), or for one request (``podium.rag``)."""

    knowledge_bases: Annotated[
        tuple[str, ...], Meta(description="Knowledge base names (of the caller's tenant).")
    ]
    k: Annotated[int, Meta(ge=1, le=50, description="Passages to inject.")] = 4
    filter: Annotated[
        dict[str, Any] | None, Meta(description="A metadata filter (docs/knowledge-bases.md).")
    ] = None
    min_score: Annotated[
        float | None, Meta(description="Cosine similarity a passage needs to count as relevant.")
    ] = None
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"
    rerank: Literal["mmr"] | None = None
    bm25_weight: Annotated[float, Meta(ge=0)] = 1.0
    vector_weight: Annotated[float, Meta(ge=0)] = 0.5  # see docs/decisions/0047-hybrid-retrieval.md
    rrf_k: Annotated[
        int, Meta(ge=1, le=1000, description="Reciprocal rank fusion's k (docs/decisions/0065).")
    ] = 10
    placement: Annotated[
        Literal["user", "system"],
        Meta(description="Wrap the last user message (user) or add a system message (system)."),
    ] = "user"
    query: Annotated[str | None, Meta(description="Search for this instead of the last user message.")] = None


class KnowledgeSettings(_Item, frozen=True):
    embedding_model: Annotated[
        str, Meta(description="Embedding model of new knowledge bases: local:minilm, or a model served here.")
    ] = "local:minilm"
    chunk_tokens: Annotated[int, Meta(ge=32, le=2048, description="Chunk size of new knowledge bases.")] = 200
    chunk_overlap: Annotated[
        int, Meta(ge=0, le=512, description="Tokens a chunk repeats of the one before.")
    ] = 30
    max_document_bytes: Annotated[
        int, Meta(ge=1, description="Larger documents are refused (document_too_large).")
    ] = 50 * 1024 * 1024
    min_score: Annotated[
        float, Meta(description="Default relevance threshold (cosine similarity) for RAG.")
    ] = 0.25
    background_documents: Annotated[
        int, Meta(ge=1, description="API uploads of more documents than this are ingested in the background.")
    ] = 20
    template: Annotated[
        str, Meta(description="How retrieved passages are put before the question: {context} and {question}.")
    ] = DEFAULT_TEMPLATE
    no_context: Annotated[
        str,
        Meta(
            description="What the model is told when nothing relevant was found: {knowledge_bases}, {question}."
        ),
    ] = DEFAULT_NO_CONTEXT
    rag: Annotated[
        dict[str, RagSettings],
        Meta(description="Retrieval applied to every call of a public model name or prompt:NAME."),
    ] = {}


def check_knowledge(
    knowledge: KnowledgeSettings, known_model: Callable[[str], bool], join: Callable[[str, str], str]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for field, needs in (("template", ("{context}", "{question}")), ("no_context", ("{question}",))):
        text = getattr(knowledge, field)
        missing = [n for n in needs if n not in text]
        if missing:
            problems.append(ConfigProblem(f"knowledge.{field}", f"must contain {' and '.join(missing)}"))
    if knowledge.chunk_overlap * 2 > knowledge.chunk_tokens:
        problems.append(ConfigProblem("knowledge.chunk_overlap", "must be at most half of chunk_tokens"))
    for name, rag in knowledge.rag.items():
        path = join("knowledge.rag", name)
        if not name.startswith("prompt:") and not known_model(name):
            problems.append(ConfigProblem(path, f"unknown route or deployment '{name}' (or use prompt:NAME)"))
        if not rag.knowledge_bases:
            problems.append(ConfigProblem(f"{path}.knowledge_bases", "name at least one knowledge base"))
        if rag.filter is not None:
            from podium.errors import RequestError
            from podium.knowledge.filters import compile_filter

            try:
                compile_filter(rag.filter, param=f"{path}.filter")
            except RequestError as exc:
                problems.append(ConfigProblem(exc.param or f"{path}.filter", exc.message))
    return problems
