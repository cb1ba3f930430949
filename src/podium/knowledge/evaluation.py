"""Retrieval quality against relevance labels: recall@k, MRR and nDCG@10.

A query set is JSON Lines, one query per line::

    {"query": "How much notice ends the Acme contract?", "relevant": ["contracts/acme.md"]}
    {"query": "liability cap", "relevant": {"contracts/globex.md": 2, "policies/risk.md": 1}}

``relevant`` names documents by source (or id): a list (each relevant, gain 1) or an object of graded
gains. Passages are ranked as retrieval returns them and reduced to documents (a document counts at
its best passage's rank), since labels are about documents.

* recall@k — the share of a query's relevant documents among its first k;
* MRR — the mean of 1 / rank of the first relevant document (0 when none is retrieved);
* nDCG@10 — discounted cumulative gain of the first 10, over the best possible ordering's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from podium.errors import RequestError

__all__ = ["EvalQuery", "Scores", "load_queries", "mean_scores", "ndcg", "recall", "reciprocal_rank", "score"]


@dataclass(frozen=True, slots=True)
class EvalQuery:
    query: str
    gains: dict[str, float]  # document (source or id) -> relevance gain (> 0)


@dataclass(frozen=True, slots=True)
class Scores:
    recall: float
    mrr: float
    ndcg10: float


def load_queries(text: str, *, name: str = "queries") -> list[EvalQuery]:
    queries: list[EvalQuery] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise RequestError(f"{name}, line {number}: not JSON: {exc}") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            raise RequestError(f'{name}, line {number}: expected {{"query": "...", "relevant": [...]}}')
        relevant: Any = item.get("relevant")
        if isinstance(relevant, list):
            gains = {str(r): 1.0 for r in relevant}
        elif isinstance(relevant, dict):
            gains = {str(k): float(v) for k, v in relevant.items() if float(v) > 0}
        else:
            raise RequestError(
                f"{name}, line {number}: `relevant` is a list of documents or an object of gains"
            )
        if not gains:
            raise RequestError(f"{name}, line {number}: no relevant document")
        queries.append(EvalQuery(item["query"], gains))
    if not queries:
        raise RequestError(f"{name} holds no queries")
    return queries


def documents_in_order(ranked: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def recall(ranked: Sequence[str], gains: dict[str, float], k: int) -> float:
    return sum(1 for d in ranked[:k] if d in gains) / len(gains)


def reciprocal_rank(ranked: Sequence[str], gains: dict[str, float]) -> float:
    return next((1.0 / i for i, d in enumerate(ranked, start=1) if d in gains), 0.0)


def ndcg(ranked: Sequence[str], gains: dict[str, float], k: int = 10) -> float:
    dcg = sum(gains.get(d, 0.0) / math.log2(i + 1) for i, d in enumerate(ranked[:k], start=1))
    ideal = sum(g / math.log2(i + 1) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k], start=1))
    return dcg / ideal if ideal else 0.0


def score(ranked: Sequence[str], gains: dict[str, float], k: int) -> Scores:
    """The three metrics for one query; ``ranked`` is its documents, best first, without repeats."""
    return Scores(recall(ranked, gains, k), reciprocal_rank(ranked, gains), ndcg(ranked, gains, 10))


def mean_scores(scores: Sequence[Scores]) -> Scores:
    n = max(1, len(scores))
    return Scores(
        sum(s.recall for s in scores) / n, sum(s.mrr for s in scores) / n, sum(s.ndcg10 for s in scores) / n
    )
