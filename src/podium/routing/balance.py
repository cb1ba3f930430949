"""Ordering the candidates that passed every filter: the route's ``strategy``.

========== ==================================================================================
ordered    as written in the route (or the matching rule's ``use``)
weighted   a random order drawn by weight (``weights`` on the route, else each deployment's)
least_busy fewest calls in flight first (every replica's calls, with Redis)
latency    lowest moving-average latency first; a deployment without samples is tried first
p2c        power of two choices: two drawn at random, the less loaded (latency times in flight) first
cost       cheapest estimated cost for this request first; unknown prices last
quality    highest quality tier first
score      a weighted sum of normalised cost, latency, quality and load (``score_weights``), lowest first
========== ==================================================================================

Every strategy is stable: ties keep the written order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from podium.config.routing import ScoreWeights, Strategy
from podium.routing.health import Snapshot

__all__ = ["Option", "order"]

_rng = random.Random()


@dataclass(slots=True)
class Option:
    """One candidate as the balancer sees it."""

    name: str
    weight: float
    cost: float | None  # estimated USD for this request; None when the price is unknown
    quality: int | None
    stats: Snapshot


def _latency(o: Option) -> float:
    return o.stats.latency_ms if o.stats.latency_ms is not None else -1.0


def _load(o: Option) -> float:
    latency = o.stats.latency_ms if o.stats.latency_ms is not None else 0.0
    return (latency + 1.0) * (o.stats.in_flight + 1)


def _normalised(values: Sequence[float | None], *, missing: float) -> list[float]:
    known = [v for v in values if v is not None]
    if not known:
        return [0.0] * len(values)
    low, high = min(known), max(known)
    span = high - low
    return [missing if v is None else ((v - low) / span if span else 0.0) for v in values]


def order(options: list[Option], strategy: Strategy, weights: ScoreWeights | None = None) -> list[Option]:
    if len(options) < 2 or strategy == "ordered":
        return options
    key: Callable[[Option], float]
    if strategy == "weighted":
        # Efraimidis-Spirakis: sorting by u^(1/w) draws an order with probabilities proportional to w.
        keyed = [(_rng.random() ** (1.0 / o.weight), i) for i, o in enumerate(options)]
        return [options[i] for _, i in sorted(keyed, reverse=True)]
    if strategy == "least_busy":
        key = lambda o: o.stats.in_flight  # noqa: E731
    elif strategy == "latency":
        key = _latency
    elif strategy == "p2c":
        a, b = _rng.sample(range(len(options)), 2)
        first = options[a] if _load(options[a]) <= _load(options[b]) else options[b]
        rest = sorted((o for o in options if o is not first), key=_load)
        return [first, *rest]
    elif strategy == "cost":
        key = lambda o: o.cost if o.cost is not None else float("inf")  # noqa: E731
    elif strategy == "quality":
        key = lambda o: -(o.quality or 0)  # noqa: E731
    else:  # score
        w = weights or ScoreWeights()
        cost = _normalised([o.cost for o in options], missing=1.0)
        latency = _normalised([o.stats.latency_ms for o in options], missing=0.0)
        quality = [1.0 - (o.quality or 0) / 5.0 for o in options]
        load = _normalised([float(o.stats.in_flight) for o in options], missing=0.0)
        scores = {
            id(o): w.cost * cost[i] + w.latency * latency[i] + w.quality * quality[i] + w.load * load[i]
            for i, o in enumerate(options)
        }
        key = lambda o: scores[id(o)]  # noqa: E731
    return sorted(options, key=key)
