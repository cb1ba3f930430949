"""Exact and semantic response caches, per tenant, in the shared state (docs/caching.md)."""

from podium.cache.answers import AnswerCache

__all__ = ["AnswerCache"]
