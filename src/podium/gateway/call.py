"""The state of one request as it moves through the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from multidict import CIMultiDictProxy

from podium.canonical import ChatRequest, EmbeddingRequest, Event
from podium.errors import PodiumError
from podium.gateway.catalog import Candidate, Target
from podium.storage.records import KeyRecord

__all__ = ["Call", "Primed"]


@dataclass(slots=True)
class Call:
    id: str
    api: Literal["chat", "embeddings"]
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
