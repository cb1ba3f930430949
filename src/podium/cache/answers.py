"""The response cache as pipeline steps: answer from the cache, or pass on and store the answer.

Exact first (the normalised request's hash, per tenant), then semantic (the last user message's
embedding, within the same scope) when the route enables it. A hit is replayed as a stream of
events, so every inbound API serves it as it serves an upstream's answer; ``call.cache`` says what
happened (``hit``, ``semantic-hit``, ``miss``, ``skip``) for the ``x-podium-cache`` header and the
request record. An answer is stored only once it has arrived whole and well (a stream the caller
abandoned, or that failed, is not), after the caller has it, through the shared state's
write-behind: storing never delays a response.

The exact lookup is one shared-state read. When limits apply, the limits step reads the entry in
the same call as the limit check (see :meth:`AnswerCache.prefetch_key`), so a request under limits
costs one round trip for both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from podium.cache import entry as entries
from podium.cache.key import (
    Directive,
    Policies,
    Policy,
    chat_key,
    deterministic,
    directive,
    embedding_key,
    semantic_scope,
)
from podium.canonical import EmbeddingResult, Event
from podium.collect import Collector
from podium.config.caching import CacheSettings
from podium.gateway.call import Call, Primed
from podium.gateway.pipeline import Handler
from podium.state.base import Put, SharedState, StateUnavailable

if TYPE_CHECKING:
    import numpy as np

    from podium.cache.semantic import SemanticIndex

__all__ = ["AnswerCache"]

log = logging.getLogger("podium.cache")

_STORABLE = frozenset({"stop", "length", "tool_calls"})


class AnswerCache:
    def __init__(self, state: SharedState, settings: CacheSettings) -> None:
        self.state = state
        self.settings = settings
        self.policies = Policies(settings)
        self.semantic: SemanticIndex | None = None
        self._sync: asyncio.Task[None] | None = None

    def configure(self, settings: CacheSettings) -> None:
        self.settings = settings
        self.policies = Policies(settings)

    @property
    def active(self) -> bool:
        return self.policies.any

    async def start(self) -> None:
        """Load the embedding model (in a thread) when some route uses the semantic cache."""
        if not self.policies.any_semantic or self.semantic is not None:
            return
        from podium.cache.semantic import SemanticIndex, load_embedder

        try:
            embedder = await asyncio.to_thread(load_embedder)
        except ImportError as exc:
            log.error("semantic cache off: %s", exc)
            return
        self.semantic = SemanticIndex(self.state, embedder, max_entries=self.settings.semantic_max_entries)
        self._sync = asyncio.create_task(self.semantic.run(), name="podium-semantic-sync")

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.gather(self._sync, return_exceptions=True)

    # ------------------------------------------------------------------ decisions

    def _plan(self, call: Call) -> tuple[Policy, Directive, str] | None:
        """The policy, the caller's directive and the exact key, when the cache applies to ``call``;
        sets ``call.cache`` to "skip" when it would but may not."""
        policy = self.policies.of(call.model)
        if policy is None:
            return None
        request = call.chat if call.chat is not None else call.embedding
        d = directive(call.headers)
        chat = call.chat
        if chat is not None and (
            (policy.deterministic_only and not deterministic(chat))
            or chat.logprobs
            or not (d.lookup or d.store)
        ):
            call.cache = "skip"
            return None
        if not (d.lookup or d.store):
            call.cache = "skip"
            return None
        prefetched = call.prefetched
        if prefetched is not None and prefetched[0] is request:
            key = prefetched[1]
        elif chat is not None:
            key = chat_key(call.principal.tenant, chat)
        else:
            assert call.embedding is not None
            key = embedding_key(call.principal.tenant, call.embedding)
        return policy, d, key

    def prefetch_key(self, call: Call) -> str | None:
        """The exact key the cache step will read for ``call`` (for the limits step to prefetch)."""
        if not self.policies.any:
            return None
        plan = self._plan(call)
        call.cache = None  # decided again, for real, by the cache step
        if plan is None or not plan[1].lookup or not self.state.available:
            return None
        return plan[2]

    async def _read(self, call: Call, request: object, key: str) -> bytes | None:
        prefetched = call.prefetched
        if prefetched is not None and prefetched[0] is request and prefetched[1] == key:
            return prefetched[2]
        if not self.state.available:
            return None
        try:
            return await self.state.get(key)
        except StateUnavailable:
            return None

    # ------------------------------------------------------------------ chat

    async def chat(self, call: Call, call_next: Handler) -> Any:
        plan = self._plan(call)
        if plan is None:
            return await call_next(call)
        policy, d, key = plan
        chat = call.chat
        assert chat is not None
        scope: tuple[str, str] | None = None
        vector: np.ndarray[Any, Any] | None = None
        if d.lookup:
            found = entries.decode(data) if (data := await self._read(call, chat, key)) else None
            if isinstance(found, entries.ChatEntry):
                call.cache = "hit"
                return self._replay(call, found)
            if policy.semantic and self.semantic is not None:
                scope = semantic_scope(call.principal.tenant, chat)
                if scope is not None:
                    vector = self.semantic.embedder.embed(scope[1])
                    hit = await self._semantic(call, scope[0], vector, policy.threshold)
                    if hit is not None:
                        return hit
            call.cache = "miss"
        else:
            call.cache = "skip"
        primed = await call_next(call)
        if not d.store or not self.state.available:
            return primed
        if policy.semantic and self.semantic is not None and scope is None:
            scope = semantic_scope(call.principal.tenant, chat)
        rest = self._storing(call, primed, key, policy, scope, vector)
        return Primed(first=primed.first, rest=rest)

    async def _semantic(
        self, call: Call, scope: str, vector: np.ndarray[Any, Any], threshold: float
    ) -> Primed | None:
        assert self.semantic is not None
        key = self.semantic.search(scope, vector, threshold)
        if key is None:
            return None
        try:
            data = await self.state.get(key)
        except StateUnavailable:
            return None
        found = entries.decode(data) if data else None
        if not isinstance(found, entries.ChatEntry):
            return None
        call.cache = "semantic-hit"
        return self._replay(call, found)

    def _replay(self, call: Call, found: entries.ChatEntry) -> Primed:
        events = entries.replay_events(found.completion, response_id=f"chatcmpl-{call.id}")
        return Primed(first=events[0], rest=entries.replay(events[1:]))

    async def _storing(
        self,
        call: Call,
        primed: Primed,
        key: str,
        policy: Policy,
        scope: tuple[str, str] | None,
        vector: np.ndarray[Any, Any] | None,
    ) -> AsyncIterator[Event]:
        """The answer's events as they come; once they have all come, the answer is stored."""
        collector = Collector()
        collector.add(primed.first)
        async for event in cast(AsyncIterator[Event], primed.rest):
            collector.add(event)
            yield event
        completion = collector.result()
        if not all(c.finish_reason in _STORABLE for c in completion.choices):
            return
        data = entries.encode(entries.ChatEntry(completion=completion, stored_at=time.time()))
        if len(data) > self.settings.max_entry_bytes:
            return
        self.state.submit([Put(key=key, value=data, ttl_ms=policy.ttl_ms)])
        if scope is not None and self.semantic is not None:
            if vector is None:
                vector = self.semantic.embedder.embed(scope[1])
            expires_at = time.time() + policy.ttl_ms / 1000
            self.semantic.add(scope[0], key, vector, expires_at, share=True)

    # ------------------------------------------------------------------ embeddings

    async def embeddings(self, call: Call, call_next: Handler) -> Any:
        plan = self._plan(call)
        if plan is None:
            return await call_next(call)
        policy, d, key = plan
        request = call.embedding
        assert request is not None
        if d.lookup:
            found = entries.decode(data) if (data := await self._read(call, request, key)) else None
            if isinstance(found, entries.EmbeddingEntry):
                call.cache = "hit"
                return found.result
            call.cache = "miss"
        else:
            call.cache = "skip"
        result: EmbeddingResult = await call_next(call)
        if d.store and self.state.available:
            data = entries.encode(entries.EmbeddingEntry(result=result, stored_at=time.time()))
            if len(data) <= self.settings.max_entry_bytes:
                self.state.submit([Put(key=key, value=data, ttl_ms=policy.ttl_ms)])
        return result
