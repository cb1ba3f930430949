"""The in-process front end: simulated models that implement the provider seam directly.

Faults become the exceptions a real adapter raises for the same upstream behaviour: ``status`` and
``error_rate`` → :class:`~podium.errors.UpstreamStatusError`; ``malformed`` →
:class:`~podium.errors.UpstreamProtocolError`; ``disconnect_after`` →
:class:`~podium.errors.UpstreamConnectionError` after that many events past ``ResponseStart``;
``hang`` → waits forever, or raises :class:`~podium.errors.UpstreamTimeout` at the deadline.

Benchmarks run through this path, so with no delay configured it never sleeps nor yields to the loop
more than an async generator must.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event
from podium.errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from podium.simulator.behaviour import SimulatedError, Simulation
from podium.simulator.spec import SimSpec, parse_spec
from podium.wire.dialect import refuse_foreign_extra

__all__ = ["SimulatedChatModel", "SimulatedEmbeddingModel"]


def _timeout(spec: SimSpec) -> UpstreamTimeout:
    return UpstreamTimeout(f"The simulated model {spec.name} did not answer before the deadline.")


async def _sleep(ms: float, deadline: float | None, spec: SimSpec) -> None:
    """Sleep ``ms`` milliseconds, or until ``deadline`` and then raise ``UpstreamTimeout``."""
    seconds = ms / 1000.0
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining < seconds:
            await asyncio.sleep(max(0.0, remaining))
            raise _timeout(spec)
    await asyncio.sleep(seconds)


async def _hang(deadline: float | None, spec: SimSpec) -> None:
    if deadline is None:
        await asyncio.get_running_loop().create_future()  # never resolved: until cancelled
    else:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    raise _timeout(spec)


def _status_error(failure: SimulatedError) -> UpstreamStatusError:
    return UpstreamStatusError(
        failure.message, upstream_status=failure.status, retry_after=failure.retry_after
    )


async def _before_answer(sim: Simulation, deadline: float | None, extra_ms: float) -> None:
    """The delays and faults that come before any answer: latency, hang, status, malformed."""
    spec = sim.spec
    if deadline is not None and time.monotonic() >= deadline:
        raise _timeout(spec)
    delay = spec.latency_ms + extra_ms
    if delay:
        await _sleep(delay, deadline, spec)
    if spec.hang:
        await _hang(deadline, spec)
    failure = sim.failure()
    if failure is not None:
        raise _status_error(failure)
    if spec.malformed:
        raise UpstreamProtocolError(
            f"The simulated model {spec.name} answered with a body that is not JSON (option malformed)."
        )


class SimulatedChatModel:
    """A chat model whose behaviour is its name: ``SimulatedChatModel("echo?ttft_ms=20")``.

    Raises ``ValueError`` at construction for an unknown mode or a bad option.
    """

    __slots__ = ("_simulation", "spec")

    def __init__(self, spec: str) -> None:
        self.spec = parse_spec(spec)
        self._simulation = Simulation(self.spec)

    def __repr__(self) -> str:
        return f"SimulatedChatModel({self.spec.name!r})"

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        sim = self._simulation
        spec = self.spec
        # It answers like an OpenAI-compatible server, so it refuses another API's fields as one must.
        refuse_foreign_extra(request, speaks="openai", provider="simulated")
        try:
            events = sim.chat(request)
        except SimulatedError as failure:
            raise _status_error(failure) from None
        streaming = request.stream
        # Not streaming, the whole generation time is spent before the answer, as upstream.
        extra = 0.0 if streaming else spec.ttft_ms + spec.chunk_delay_ms * max(0, len(events) - 2)
        await _before_answer(sim, deadline, extra)
        cut = spec.disconnect_after
        if cut is not None:
            # N content events (past ResponseStart) arrive, then the connection drops.
            events = events[: cut + 1] if cut else []
        paced = streaming and (spec.ttft_ms or spec.chunk_delay_ms)
        for i, event in enumerate(events):
            if paced and i:
                delay = spec.ttft_ms if i == 1 else spec.chunk_delay_ms
                if delay:
                    await _sleep(delay, deadline, spec)
            yield event
        if cut is not None:
            raise UpstreamConnectionError(
                f"The simulated model {spec.name} closed the connection mid-answer (option disconnect_after)."
            )


class SimulatedEmbeddingModel:
    """An embedding model with deterministic, similarity-preserving vectors (see ``embedding``)."""

    __slots__ = ("_simulation", "spec")

    def __init__(self, spec: str) -> None:
        self.spec = parse_spec(spec, default_mode="embed")
        self._simulation = Simulation(self.spec)

    def __repr__(self) -> str:
        return f"SimulatedEmbeddingModel({self.spec.name!r})"

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        sim = self._simulation
        spec = self.spec
        await _before_answer(sim, deadline, spec.ttft_ms)
        if spec.disconnect_after is not None:
            raise UpstreamConnectionError(
                f"The simulated model {spec.name} closed the connection without answering (option disconnect_after)."
            )
        try:
            return sim.embed(request)
        except SimulatedError as failure:
            raise _status_error(failure) from None
