"""The state of one request as it moves through the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from multidict import CIMultiDictProxy

from podium.canonical import ChatRequest, EmbeddingRequest, Event
from podium.errors import PodiumError
from podium.gateway.catalog import Candidate, Target
from podium.storage.records import GuardrailVerdict, KeyRecord

if TYPE_CHECKING:
    from podium.limits.limiter import Ticket
    from podium.routing.policy import Decision

__all__ = ["Call", "Primed"]


@dataclass(slots=True)
class Call:
    id: str
    api: Literal["chat", "embeddings", "messages", "responses"]
    headers: CIMultiDictProxy[str]
    principal: KeyRecord
    chat: ChatRequest | None = None
    embedding: EmbeddingRequest | None = None
    started: float = field(default_factory=time.perf_counter)  # for durations
    received_at: float = field(default_factory=time.time)  # for the record's timestamp
    deadline: float | None = None  # time.monotonic() instant, when a latency budget applies
    target: Target | None = None
    candidate: Candidate | None = None  # the deployment that answered
    attempts: int = 0
    upstream_wait: float = 0.0  # seconds spent waiting on upstreams before the answer began
    error: PodiumError | None = None
    decision: Decision | None = None  # the routing decision (podium.routing), when routing ran
    route_reason: str | None = None  # why the answering deployment answered: x-podium-route, the record
    limits: Ticket | None = None  # the admission under limits (podium.limits), released when the call ends
    cache: str | None = None  # hit | semantic-hit | miss | skip (podium.cache): x-podium-cache, the record
    prefetched: tuple[object, str, bytes | None] | None = (
        None  # (request, cache key, value) read with the limits
    )
    prompt_name: str | None = None  # the registry prompt the request used (podium.prompts), for the record
    prompt_version: int | None = None  # the version of it that served
    guardrails: tuple[GuardrailVerdict, ...] = ()  # each guardrail scanner's verdict (podium.guardrails)
    # Extension fields for the answer (``podium: {...}`` in OpenAI's shape): RAG citations (podium.knowledge)
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        request = self.chat or self.embedding
        assert request is not None
        return request.model


@dataclass(slots=True)
class Primed:
    """A chat answer whose first event has already arrived: the upstream has committed to it."""

    first: Event
    rest: object  # AsyncIterator[Event]; typed loosely to keep this module free of generics noise
