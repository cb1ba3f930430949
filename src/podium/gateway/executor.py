"""The last step: call the deployments of the routing plan until one answers.

A chat attempt is *committed* once its first event has arrived — or, when the route sets a
time-to-first-token timeout, its first content event (text, tool call, refusal, finish). Before that
nothing has reached the caller, so a failure (or silence past the timeout) moves on to the next
deployment; after it, the error is the caller's to see: a stream falls back only before its first
byte. Around that loop:

* **retries** on the same deployment for the retry classes of the route's policy (connect, timeout,
  rate_limited, server_error, overloaded), with exponential backoff and full jitter, waiting the
  upstream's Retry-After instead when it gave one — unless it is longer than ``max_retry_after_ms``
  or the budget, in which case the next deployment is tried at once;
* **circuit breakers**: a deployment whose circuit is open is skipped; every attempt is reported to
  the health board, which opens and closes circuits and keeps the live statistics;
* **deadlines**: the request's deadline (``call.deadline``) is passed to every attempt, and an
  attempt (a retry or a fallback) starts only if at least ``routing.min_attempt_ms`` of it is left;
* **designated deployments**: an upstream refusal for context length or content policy goes to the
  route's ``on_context_overflow`` / ``on_content_policy`` deployments; another request-level 400 or
  413 is the caller's to see, since any deployment would refuse it too.

Without a routing decision (``call.decision`` is None) the target's candidates are tried in order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from podium.canonical import EmbeddingResult, Event, ResponseStart, Usage
from podium.config.routing import RetryClass, RetryPolicy
from podium.errors import (
    PodiumError,
    ProviderError,
    RequestError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from podium.gateway.call import Call, Primed
from podium.gateway.catalog import Candidate
from podium.routing.explain import set_route_header

if TYPE_CHECKING:
    from podium.routing.health import HealthBoard

__all__ = ["execute_chat", "execute_embeddings", "retry_class"]

_NO_RETRY = RetryPolicy(attempts=1)
_DESIGNATED = ("context_length_exceeded", "content_policy_violation")
_rng = random.Random()


def retry_class(error: ProviderError) -> RetryClass | None:
    """Which retry class a failure belongs to; None for failures a retry on the same deployment won't fix."""
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamConnectionError):
        return "connect"
    if isinstance(error, UpstreamProtocolError):
        return "server_error"
    if isinstance(error, UpstreamStatusError):
        s = error.upstream_status
        if s == 429:
            return "rate_limited"
        if s in (503, 529):
            return "overloaded"
        if s == 408:
            return "timeout"
        if s >= 500:
            return "server_error"
    return None


def _falls_back(error: ProviderError) -> bool:
    # A 400 or 413 from the upstream is about the request itself: another deployment would say the same.
    return error.status not in (400, 413)


def _counts(error: ProviderError) -> bool | None:
    """What a failure means for the deployment's breaker: False (its fault) or None (not its fault).

    Not its fault: the request's (an upstream 400 or 413), or Podium's own limit on the deployment
    (``podium.limits``' ``deployment_limit_exceeded``), which never reached it.
    """
    if error.status in (400, 413) or error.code == "deployment_limit_exceeded":
        return None
    return False


class _Attempts:
    """The state of one request's walk through its plan."""

    def __init__(self, call: Call) -> None:
        self.call = call
        d = call.decision
        if d is not None:
            self.plan: deque[Candidate] = deque(d.plan)
            self.retry = d.retry
            self.health: HealthBoard | None = d.health
            self.ttft = d.first_token_timeout
            self.min_attempt = d.min_attempt
        else:
            self.plan = deque(_capable(call))
            self.retry = _NO_RETRY
            self.health = None
            self.ttft = None
            self.min_attempt = 0.0
        self.tried: list[str] = []
        self.failures: list[str] = []  # "deployment (code)" of each failed attempt, for the reason
        self.skipped: list[str] = []
        self.designated: set[str] = set()
        self.budget_exhausted = False

    def remaining(self) -> float | None:
        deadline = self.call.deadline
        return None if deadline is None else deadline - time.monotonic()

    def next(self) -> tuple[Candidate, bool] | None:
        """The next deployment to try and whether it is a breaker probe; None when the plan is done."""
        while self.plan:
            left = self.remaining()
            if left is not None and left < self.min_attempt:
                self.budget_exhausted = True
                return None
            cand = self.plan.popleft()
            if self.health is None:
                return cand, False
            admit = self.health.get(cand.deployment).admit(time.time())
            if admit.ok:
                return cand, admit.probe
            self.skipped.append(f"{cand.deployment} ({admit.reason})")
        return None

    def redirect(self, error: ProviderError) -> bool:
        """After a context-length or content-policy refusal: put the designated deployments next."""
        d = self.call.decision
        if d is None or error.code not in _DESIGNATED or error.code in self.designated:
            return False
        self.designated.add(error.code or "")
        targets = d.on_context_overflow if error.code == "context_length_exceeded" else d.on_content_policy
        fresh = [c for c in targets if c.deployment not in self.tried]
        if not fresh:
            return False
        self.plan = deque(fresh)  # the others would refuse the same request
        return True

    def wait_before_retry(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before retrying the same deployment, or None to move on."""
        if attempt + 1 >= self.retry.attempts or retry_class(error) not in self.retry.classes:
            return None
        r = self.retry
        if error.retry_after is not None:
            wait = error.retry_after
            if wait * 1000 > r.max_retry_after_ms:
                return None
        else:
            base = min(r.max_backoff_ms, r.backoff_ms * r.multiplier**attempt) / 1000
            wait = _rng.uniform(0, base) if r.jitter else base
        left = self.remaining()
        if left is not None and wait + self.min_attempt > left:
            return None
        return wait

    def report(
        self,
        cand: Candidate,
        *,
        ok: bool | None,
        probe: bool,
        started: float,
        ttft: float | None = None,
        tokens: int = 0,
    ) -> None:
        if self.health is not None:
            self.health.report(
                cand.deployment,
                ok=ok,
                probe=probe,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=ttft,
                tokens=tokens,
            )

    def answered(self, cand: Candidate) -> None:
        call = self.call
        call.candidate = cand
        d = call.decision
        reason = d.reason if d is not None else "first in order"
        if self.failures:
            reason += f"; fallback after {', '.join(self.failures)}"
        if self.skipped:
            reason += f"; skipped {', '.join(self.skipped)}"
        call.route_reason = reason
        set_route_header(call.target.route if call.target else None, cand.deployment, reason)

    def failure(self, last: PodiumError | None) -> PodiumError:
        """The error for a request no deployment answered."""
        call = self.call
        d = call.decision
        note = ""
        if d is not None and d.excluded:
            note = (
                f" Deployments outside the allowed regions ({', '.join(d.residency.allowed)}) were not tried: "
                f"{', '.join(d.excluded)}."
            )
        reason = (d.reason if d is not None else "first in order") + (
            f"; failed: {', '.join(self.failures)}" if self.failures else ""
        )
        call.route_reason = reason
        set_route_header(call.target.route if call.target else None, None, reason)
        if self.budget_exhausted and (last is None or not isinstance(last, UpstreamTimeout)):
            spent = time.perf_counter() - call.started
            error: PodiumError = UpstreamTimeout(
                f"The latency budget of '{call.model}' ran out after {spent * 1000:.0f} ms"
                + (f" ({', '.join(self.failures)})" if self.failures else "")
                + "."
                + note,
                code="deadline_exceeded",
            )
            return error
        if last is None:
            skipped = ", ".join(self.skipped) or "none"
            from podium.routing.policy import NoDeploymentAvailable

            return NoDeploymentAvailable(
                f"No deployment behind '{call.model}' is available (skipped: {skipped}).{note}"
            )
        if note:
            last.message += note
            last.args = (last.message,)
        return last


async def _first_content(
    stream: AsyncIterator[Event], buffered: list[Event], timeout: float | None, *, content: bool
) -> bool:
    """Read the first event (with ``content``: up to the first content event); False if none came."""
    async with asyncio.timeout(timeout):
        async for event in stream:
            buffered.append(event)
            if not content or not isinstance(event, ResponseStart):
                return True
    return False


class _Answer:
    """The committed answer as the edge reads it; reports how the deployment did when it ends.

    A class rather than an async generator so that closing it before the first read (the caller
    went away) still reports, and the deployment's in-flight count comes back down.
    """

    __slots__ = ("_buffered", "_cand", "_done", "_probe", "_started", "_stream", "_tokens", "_ttft", "_walk")

    def __init__(
        self,
        buffered: list[Event],
        stream: AsyncIterator[Event],
        walk: _Attempts,
        cand: Candidate,
        probe: bool,
        started: float,
        ttft: float | None,
    ) -> None:
        self._buffered = buffered
        self._stream = stream
        self._walk = walk
        self._cand = cand
        self._probe = probe
        self._started = started
        self._ttft = ttft
        self._tokens = 0
        self._done = False

    def __aiter__(self) -> _Answer:
        return self

    async def __anext__(self) -> Event:
        if self._buffered:
            return self._buffered.pop(0)
        try:
            event = await anext(self._stream)
        except StopAsyncIteration:
            self._end(True)
            raise
        except ProviderError as exc:
            self._end(_counts(exc))
            raise
        except BaseException:
            self._end(None)
            raise
        if self._ttft is None and not isinstance(event, ResponseStart):
            self._ttft = (time.perf_counter() - self._started) * 1000  # time to the first token
        if isinstance(event, Usage):
            self._tokens = event.input_tokens + event.output_tokens
        return event

    async def aclose(self) -> None:
        self._end(None)
        await _close(self._stream)

    def _end(self, ok: bool | None) -> None:
        if not self._done:
            self._done = True
            self._walk.report(
                self._cand,
                ok=ok,
                probe=self._probe,
                started=self._started,
                ttft=self._ttft,
                tokens=self._tokens,
            )


async def execute_chat(call: Call) -> Primed:
    assert call.chat is not None
    walk = _Attempts(call)
    last: PodiumError | None = None
    while (picked := walk.next()) is not None:
        cand, probe = picked
        walk.tried.append(cand.deployment)
        attempt = 0
        while True:
            call.attempts += 1
            call.candidate = cand
            if walk.health is not None:
                walk.health.begin(cand.deployment)
            t0 = time.perf_counter()
            stream = cand.chat.stream(call.chat, deadline=call.deadline)
            buffered: list[Event] = []
            timeout = walk.ttft
            left = walk.remaining()
            if left is not None:
                timeout = left if timeout is None else min(timeout, left)
            try:
                # With a time-to-first-token timeout, nothing is committed before the first token, so
                # a deployment that starts but stalls can still be left for the next one. Without one,
                # the first event (the assistant role) goes to the caller at once.
                began = await _first_content(stream, buffered, timeout, content=walk.ttft is not None)
                if not buffered:
                    raise UpstreamProtocolError(
                        f"Deployment '{cand.deployment}' ended its answer before it began.",
                        deployment=cand.deployment,
                    )
            except TimeoutError:
                await _close(stream)
                waited = (time.perf_counter() - t0) * 1000
                error: ProviderError = UpstreamTimeout(
                    f"Deployment '{cand.deployment}' sent no first token within {waited:.0f} ms.",
                    deployment=cand.deployment,
                )
            except ProviderError as exc:
                await _close(stream)
                error = exc
            except BaseException:
                await _close(stream)
                walk.report(cand, ok=None, probe=probe, started=t0)
                raise
            else:
                call.upstream_wait += time.perf_counter() - t0
                content = began and not isinstance(buffered[-1], ResponseStart)
                ttft = (time.perf_counter() - t0) * 1000 if content else None
                walk.answered(cand)
                rest = _Answer(buffered[1:], stream, walk, cand, probe, t0, ttft)
                return Primed(first=buffered[0], rest=rest)
            call.upstream_wait += time.perf_counter() - t0
            walk.report(cand, ok=_counts(error), probe=probe, started=t0)
            last = error
            walk.failures.append(f"{cand.deployment} ({error.code})")
            if walk.redirect(error):
                break
            if not _falls_back(error):
                walk.failure(None)  # sets the header and the record's reason
                raise error
            wait = walk.wait_before_retry(error, attempt)
            if wait is None or probe:
                break
            await asyncio.sleep(wait)
            attempt += 1
    raise walk.failure(last)


async def execute_embeddings(call: Call) -> EmbeddingResult:
    assert call.embedding is not None
    walk = _Attempts(call)
    last: PodiumError | None = None
    while (picked := walk.next()) is not None:
        cand, probe = picked
        walk.tried.append(cand.deployment)
        attempt = 0
        while True:
            call.attempts += 1
            call.candidate = cand
            if walk.health is not None:
                walk.health.begin(cand.deployment)
            t0 = time.perf_counter()
            try:
                left = walk.remaining()
                async with asyncio.timeout(left):
                    result = await cand.embeddings.embed(call.embedding, deadline=call.deadline)
            except TimeoutError:
                error: ProviderError = UpstreamTimeout(
                    f"Deployment '{cand.deployment}' did not answer within the latency budget.",
                    deployment=cand.deployment,
                )
            except ProviderError as exc:
                error = exc
            except BaseException:
                walk.report(cand, ok=None, probe=probe, started=t0)
                raise
            else:
                call.upstream_wait += time.perf_counter() - t0
                walk.report(cand, ok=True, probe=probe, started=t0, tokens=result.usage.input_tokens)
                walk.answered(cand)
                return result
            call.upstream_wait += time.perf_counter() - t0
            walk.report(cand, ok=_counts(error), probe=probe, started=t0)
            last = error
            walk.failures.append(f"{cand.deployment} ({error.code})")
            if not _falls_back(error):
                walk.failure(None)
                raise error
            wait = walk.wait_before_retry(error, attempt)
            if wait is None or probe:
                break
            await asyncio.sleep(wait)
            attempt += 1
    raise walk.failure(last)


def _capable(call: Call) -> list[Candidate]:
    """Without a routing decision: the target's candidates able to serve the request, in order."""
    from podium.routing.policy import _needs

    assert call.target is not None
    needs = _needs(call.chat, call.api)
    capable = [c for c in call.target.candidates if all(n in c.config.capabilities for n in needs)]
    if not capable:
        missing = sorted({n for c in call.target.candidates for n in needs if n not in c.config.capabilities})
        raise RequestError(
            f"No deployment behind '{call.model}' supports {', '.join(missing)}.", code="unsupported_feature"
        )
    return capable


async def _close(stream: AsyncIterator[Event]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a failed upstream is best effort
            return
