"""The last step: call the target's deployments in fallback order until one answers.

A chat attempt counts as answered once its first event has arrived: before that, a failure moves on
to the next deployment; after it, the caller has (or is about to have) bytes, so the error is theirs
to see. Retry with backoff, circuit breakers and latency budgets build on this loop.
"""

from __future__ import annotations

import time

from podium.canonical import ChatRequest, EmbeddingResult, ImagePart, JsonSchemaFormat
from podium.config.model import Capability
from podium.errors import PodiumError, ProviderError, RequestError, UpstreamProtocolError
from podium.gateway.call import Call, Primed
from podium.gateway.catalog import Candidate

__all__ = ["execute_chat", "execute_embeddings"]


def _needs(request: ChatRequest) -> list[Capability]:
    needs: list[Capability] = ["chat"]
    if request.stream:
        needs.append("streaming")
    if request.tools:
        needs.append("tools")
    if request.response_format == "json_object":
        needs.append("json_object")
    elif isinstance(request.response_format, JsonSchemaFormat):
        needs.append("json_schema")
    if any(
        isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content)
        for m in request.messages
    ):
        needs.append("vision")
    return needs


def _falls_back(error: ProviderError) -> bool:
    # A 400 or 413 from the upstream is about the request itself: another deployment would say the same.
    return error.status not in (400, 413)


def _capable(call: Call, needs: list[Capability]) -> list[Candidate]:
    assert call.target is not None
    capable = [c for c in call.target.candidates if all(n in c.config.capabilities for n in needs)]
    if not capable:
        missing = sorted({n for c in call.target.candidates for n in needs if n not in c.config.capabilities})
        raise RequestError(
            f"No deployment behind '{call.model}' supports {', '.join(missing)}.", code="unsupported_feature"
        )
    return capable


async def execute_chat(call: Call) -> Primed:
    assert call.chat is not None
    last: PodiumError | None = None
    for cand in _capable(call, _needs(call.chat)):
        call.attempts += 1
        call.candidate = cand
        stream = cand.chat.stream(call.chat, deadline=call.deadline)
        t0 = time.perf_counter()
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            last = UpstreamProtocolError(
                f"Deployment '{cand.deployment}' ended its answer before it began.",
                deployment=cand.deployment,
            )
            continue
        except ProviderError as exc:
            last = exc
            if _falls_back(exc):
                continue
            raise
        finally:
            call.upstream_wait += time.perf_counter() - t0
        return Primed(first=first, rest=stream)
    assert last is not None
    raise last


async def execute_embeddings(call: Call) -> EmbeddingResult:
    assert call.embedding is not None
    last: PodiumError | None = None
    for cand in _capable(call, ["embeddings"]):
        call.attempts += 1
        call.candidate = cand
        t0 = time.perf_counter()
        try:
            return await cand.embeddings.embed(call.embedding, deadline=call.deadline)
        except ProviderError as exc:
            last = exc
            if not _falls_back(exc):
                raise
        finally:
            call.upstream_wait += time.perf_counter() - t0
    assert last is not None
    raise last
