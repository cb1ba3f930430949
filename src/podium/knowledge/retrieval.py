"""Hybrid retrieval: BM25 and vector search over the documents a reader may use, fused by reciprocal
rank fusion, optionally reranked, each passage scored by its cosine similarity to the query.

Reciprocal rank fusion gives a chunk ``Σ wᵢ / (rrf_k + rankᵢ)`` over the rankings it appears in
(Cormack et al., 2009): it needs no calibration between BM25 scores and cosine similarities, and a
chunk that both searches rank well beats one that only one of them likes. The weights (``bm25``,
``vector``) tilt it (by default 1 and 0.5); ``rrf_k`` (default 10) sets how much the first ranks count
more than the later ones (docs/decisions/0065). ``mode`` "bm25" or "vector" uses one ranking alone. Each search contributes ``candidates`` chunks
(at least 4 times k). ``rerank="mmr"`` reorders the best candidates by maximal marginal relevance, so the
k passages returned repeat each other less.

``min_score`` is a cosine similarity: a passage below it does not count as relevant (the RAG step then
tells the model it found nothing, rather than handing it noise).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from podium.knowledge.view import KbView
from podium.storage.base import KnowledgeStore
from podium.storage.knowledge_records import ChunkHit, KnowledgeBaseRecord

if TYPE_CHECKING:  # numpy is imported where it is used (see podium.knowledge.view)
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DEFAULT_VECTOR_WEIGHT",
    "RRF_K",
    "Mode",
    "Passage",
    "SearchSettings",
    "fuse",
    "mmr",
    "query_terms",
    "search",
]

Mode = Literal["hybrid", "bm25", "vector"]
# The fusion's defaults, chosen on the Lee corpus and checked on held-out queries and on a second
# corpus (benchmarks/retrieval.py, docs/decisions/0065-fusion-defaults-held-out.md).
RRF_K = 10
_WORD = re.compile(r"[^\W_]+")
# Words too common to rank by: left out of the full-text query (kept when the query is nothing else).
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)
_MAX_TERMS = 32
# BM25 counts twice as much as the vectors by default: with equal weights the weaker vector ranking
# pulls hybrid below BM25 alone on the labelled corpora of benchmarks/retrieval.py (decisions 0047, 0065).
DEFAULT_VECTOR_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class SearchSettings:
    k: int = 5
    mode: Mode = "hybrid"
    bm25_weight: float = 1.0
    vector_weight: float = DEFAULT_VECTOR_WEIGHT
    rrf_k: int = RRF_K
    candidates: int = 50
    rerank: Literal["mmr"] | None = None
    min_score: float | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    chunk_id: int
    kb_id: str
    kb_name: str
    doc_id: str
    source: str
    title: str
    heading: str
    page: int | None
    text: str
    score: float  # the fused score, higher is better
    similarity: float  # cosine similarity of the chunk to the query
    bm25_rank: int | None  # 1-based rank in the full-text search, None if it did not find it
    vector_rank: int | None

    @property
    def id(self) -> str:
        return f"chk_{self.chunk_id}"


def query_terms(text: str) -> list[str]:
    """The words of ``text`` worth a full-text search, lower-cased, without repeats."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:_MAX_TERMS]


def fuse(rankings: list[tuple[list[ChunkHit], float]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion of several rankings, each with its weight: ``Σ w / (k + rank)``."""
    scores: dict[int, float] = {}
    for hits, weight in rankings:
        if weight <= 0:
            continue
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
    return scores


def mmr(
    query: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], k: int, *, balance: float = 0.7
) -> list[int]:
    """Indices of ``k`` rows chosen by maximal marginal relevance (relevance vs. novelty)."""
    import numpy as np

    relevance = vectors @ query
    chosen: list[int] = []
    left = list(range(vectors.shape[0]))
    while left and len(chosen) < k:
        if chosen:
            redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(left), dtype=np.float32)
        gains = balance * relevance[left] - (1 - balance) * redundancy
        pick = left[int(np.argmax(gains))]
        chosen.append(pick)
        left.remove(pick)
    return chosen


async def search(
    store: KnowledgeStore,
    kb: KnowledgeBaseRecord,
    view: KbView,
    query: str,
    vector: npt.NDArray[np.float32] | None,
    settings: SearchSettings,
    allowed: tuple[npt.NDArray[np.bool_] | None, list[str] | None],
) -> list[Passage]:
    """The best ``settings.k`` passages of one knowledge base for ``query`` (and its ``vector``)."""
    import numpy as np

    mask, doc_ids = allowed
    if doc_ids is not None and not doc_ids:
        return []
    pool = max(settings.candidates, 4 * settings.k)
    lexical: list[ChunkHit] = []
    nearest: list[ChunkHit] = []
    jobs = []
    if settings.mode != "vector":
        jobs.append(store.lexical_search(kb.id, query_terms(query), k=pool, doc_ids=doc_ids))
    if settings.mode != "bm25" and vector is not None:
        jobs.append(_nearest(store, kb, view, vector, pool, mask, doc_ids))
    results = await asyncio.gather(*jobs)
    if settings.mode != "vector":
        lexical = results.pop(0)
    if settings.mode != "bm25" and vector is not None:
        nearest = results.pop(0)
    fused = fuse([(lexical, settings.bm25_weight), (nearest, settings.vector_weight)], settings.rrf_k)
    if not fused:
        return []
    wanted = 3 * settings.k if settings.rerank else settings.k
    best = sorted(fused, key=lambda cid: (-fused[cid], cid))[:wanted]
    chunks = {c.id: c for c in await store.chunks(kb.id, best)}
    best = [cid for cid in best if cid in chunks]  # deleted since the search: left out
    lex_rank = {h.id: i for i, h in enumerate(lexical, start=1)}
    vec_rank = {h.id: i for i, h in enumerate(nearest, start=1)}
    matrix = np.stack([np.frombuffer(chunks[cid].embedding, dtype="<f4") for cid in best]) if best else None
    similarity = (
        (matrix @ vector)
        if (matrix is not None and vector is not None and matrix.shape[1] == vector.shape[0])
        else None
    )
    if settings.rerank == "mmr" and matrix is not None and vector is not None and similarity is not None:
        order = mmr(vector, matrix.astype(np.float32), settings.k)
    else:
        order = list(range(min(settings.k, len(best))))
    passages: list[Passage] = []
    for i in order:
        cid = best[i]
        chunk = chunks[cid]
        doc = view.docs.get(chunk.doc_id)
        sim = float(similarity[i]) if similarity is not None else 0.0
        if settings.min_score is not None and sim < settings.min_score:
            continue
        passages.append(
            Passage(
                chunk_id=cid,
                kb_id=kb.id,
                kb_name=kb.name,
                doc_id=chunk.doc_id,
                source=doc.source if doc else "",
                title=doc.title if doc else "",
                heading=chunk.heading,
                page=chunk.page,
                text=chunk.text,
                score=round(fused[cid], 6),
                similarity=round(sim, 6),
                bm25_rank=lex_rank.get(cid),
                vector_rank=vec_rank.get(cid),
            )
        )
    return passages


async def _nearest(
    store: KnowledgeStore,
    kb: KnowledgeBaseRecord,
    view: KbView,
    vector: npt.NDArray[np.float32],
    k: int,
    mask: npt.NDArray[np.bool_] | None,
    doc_ids: list[str] | None,
) -> list[ChunkHit]:
    from podium.knowledge.vectors import IVF_MIN

    index = view.index
    if index is None:
        return await store.vector_search(kb.id, vector.astype("<f4").tobytes(), k=k, doc_ids=doc_ids)
    if index.ivf is None and index.live >= IVF_MIN:
        # A large exact scan (lists not built yet): in a worker thread, so other requests go on.
        found = await asyncio.to_thread(index.search, vector, k, mask)
    else:
        found = index.search(vector, k, mask)
    return [ChunkHit(id=cid, score=score) for cid, score in found]
