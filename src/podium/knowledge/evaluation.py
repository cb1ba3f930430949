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

:func:`held_out` scores a choice of settings honestly: the queries are cut into folds, and each fold is
scored with the settings that did best on the other folds — never with settings picked on itself.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from podium.errors import RequestError

__all__ = [
    "FUSION_GRID",
    "EvalQuery",
    "HeldOut",
    "Scores",
    "held_out",
    "load_queries",
    "mean_scores",
    "ndcg",
    "recall",
    "reciprocal_rank",
    "score",
]


# The hybrid fusions that tuning chooses among: reciprocal rank fusion's k x the vectors' weight (BM25's is 1).
FUSION_GRID = tuple((k, w) for k in (5, 10, 20, 60) for w in (0.25, 0.5, 0.75, 1.0))


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


T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True, slots=True)
class HeldOut(Generic[T]):
    scores: Scores  # over every query, each scored with settings chosen without it
    chosen: list[T]  # the settings each fold was scored with


def held_out(table: Mapping[T, Sequence[Scores]], *, folds: int = 5, seed: int = 0) -> HeldOut[T]:
    """Cross-validated scores of tuning: ``table`` maps each candidate setting to its per-query scores
    (the same queries in the same order). The queries are shuffled (by ``seed``) into ``folds`` parts; each
    part is scored with the setting of the best mean nDCG@10 on the other parts (ties: the first in
    ``table``)."""
    settings = list(table)
    if not settings:
        raise ValueError("no settings to choose from")
    n = len(table[settings[0]])
    if any(len(v) != n for v in table.values()):
        raise ValueError("every setting needs a score for every query")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    folds = max(2, min(folds, n))
    parts = [order[i::folds] for i in range(folds)]
    result: list[Scores | None] = [None] * n
    chosen: list[T] = []
    for part in parts:
        inside = set(part)
        train = [i for i in range(n) if i not in inside]

        def trained(setting: T, train: list[int] = train) -> float:
            return sum(table[setting][i].ndcg10 for i in train)

        best = max(settings, key=trained)  # max keeps the first of equals
        chosen.append(best)
        for i in part:
            result[i] = table[best][i]
    return HeldOut(mean_scores([s for s in result if s is not None]), chosen)
