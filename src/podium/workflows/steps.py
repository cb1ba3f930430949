"""One attempt of each kind of step that does work: an LLM call, a tool, an HTTP call, a retrieval, a check.

An LLM step's call goes through the gateway's own chat pipeline (:func:`podium.evaluation.calls.chat_call`)
as the run's principal, so prompts, limits, guardrails, RAG, routing, fallbacks and accounting apply
exactly as to a direct request, and the call leaves its request record. A retrieval reads knowledge
bases with the run's principal's access rights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec

from podium.canonical import ChatRequest, JsonSchemaFormat, Message
from podium.errors import PodiumError
from podium.evaluation.calls import chat_call
from podium.guardrails.policy import Segment, run_stage
from podium.knowledge.access import Reader
from podium.knowledge.retrieval import SearchSettings
from podium.storage.records import KeyRecord
from podium.workflows.conditions import compile_expression, render
from podium.workflows.definition import HttpCall, LlmStep, RetrieveStep, ValidateStep
from podium.workflows.errors import StepFailed
from podium.workflows.schemas import schema_error
from podium.workflows.tools import ToolFunction, call_tool

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["Actor", "Spent", "chat_request", "http_call", "llm_call", "retrieve", "tool_call", "validate"]

# Statuses where trying the same call again cannot help: the request itself is wrong or not allowed.
_FINAL_STATUSES = {400, 401, 403, 404, 413, 422}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a run acts as: the key its model calls are made with, and its rights on knowledge bases."""

    key: KeyRecord
    reader: Reader


@dataclass(slots=True)
class Spent:
    """What a step's attempts cost, summed over attempts: model spend and the gateway request ids."""

    cost: float = 0.0
    request_ids: list[str] = field(default_factory=list)


def chat_request(step: LlmStep, data: dict[str, Any]) -> ChatRequest:
    messages = tuple(Message(role=m.role, content=str(render(m.content, data))) for m in step.messages)
    extra: dict[str, Any] | None = None
    if step.prompt is not None:
        ref: dict[str, Any] = {"name": step.prompt.name}
        if step.prompt.version is not None:
            ref["version"] = step.prompt.version
        elif step.prompt.label is not None:
            ref["label"] = step.prompt.label
        ref["variables"] = {k: _template(v, data) for k, v in step.prompt.variables.items()}
        extra = {"podium": {"prompt": ref}}
    fmt = (
        JsonSchemaFormat(name=step.id or "output", schema=step.output_schema, strict=True)
        if step.output_schema is not None
        else None
    )
    return ChatRequest(
        model=step.model or "prompt",
        messages=messages,
        temperature=step.temperature,
        max_tokens=step.max_tokens,
        response_format=fmt,
        extra=extra,
    )


def _template(value: Any, data: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, data)
    if isinstance(value, dict):
        return {k: _template(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_template(v, data) for v in value]
    return value


def evaluate_values(values: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``args`` / ``body`` / subflow ``inputs``: a string is an expression, anything else literal JSON."""
    return {k: compile_expression(v)(data) if isinstance(v, str) else v for k, v in values.items()}


def _failed(error: PodiumError) -> StepFailed:
    return StepFailed(
        f"{type(error).__name__} ({error.status}): {error.message}",
        retryable=error.status not in _FINAL_STATUSES,
    )


async def llm_call(gw: Gateway, actor: Actor, step: LlmStep, chat: ChatRequest, spent: Spent) -> Any:
    """One model call; the answer's JSON (with an output schema, validated) or ``{"text": …}``."""
    from podium.accounting import pricing

    call, collector, error = await chat_call(gw, actor.key, chat)
    spent.request_ids.append(call.id)
    cand = call.candidate
    if cand is not None and cand.price is not None and collector.usage is not None:
        spent.cost += pricing.cost(cand.price, collector.usage)
    if error is not None:
        raise _failed(error)
    text = collector.output_text()
    if step.output_schema is None:
        return {"text": text}
    try:
        answer = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise StepFailed(f"the model's answer is not JSON: {text[:200]!r}") from None
    problem = schema_error(step.output_schema, answer)
    if problem is not None:
        raise StepFailed(f"the model's answer does not match output_schema: {problem}")
    return answer


def _json_safe(value: Any, what: str) -> Any:
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError) as e:
        raise StepFailed(f"{what} returned something that is not JSON: {e}", retryable=False) from None


async def tool_call(fn: ToolFunction, args: dict[str, Any]) -> Any:
    try:
        result = await call_tool(fn, args)
    except StepFailed:
        raise
    except Exception as e:
        raise StepFailed(f"the tool raised {type(e).__name__}: {e}") from e
    return _json_safe(result, "the tool")


async def http_call(session: aiohttp.ClientSession, http: HttpCall, data: dict[str, Any]) -> Any:
    url = str(render(http.url, data))
    headers = {k: str(render(v, data)) for k, v in http.headers.items()}
    body = evaluate_values(http.body, data) if http.body is not None else None
    timeout = aiohttp.ClientTimeout(total=http.timeout_ms / 1000)
    try:
        async with session.request(http.method, url, json=body, headers=headers, timeout=timeout) as response:
            text = await response.text()
            if response.status >= 400:
                raise StepFailed(
                    f"{http.method} {url} answered {response.status}: {text[:200]}",
                    retryable=response.status >= 500 or response.status == 429,
                )
            if response.content_type == "application/json":
                return msgspec.json.decode(text) if text else None
            return {"status": response.status, "text": text}
    except (aiohttp.ClientError, msgspec.DecodeError) as e:
        raise StepFailed(f"{http.method} {url} failed: {type(e).__name__}: {e}") from e
    except TimeoutError:
        raise StepFailed(f"{http.method} {url} did not answer within {http.timeout_ms} ms") from None


async def retrieve(gw: Gateway, actor: Actor, step: RetrieveStep, query: str) -> Any:
    try:
        kbs = [await gw.knowledge.get(actor.reader.tenant, name) for name in step.knowledge_bases]
        passages = await gw.knowledge.query(
            kbs,
            actor.reader,
            query,
            SearchSettings(k=step.k, mode=step.mode),
            filter=step.filter,
            principal=actor.key,
        )
    except PodiumError as e:
        raise _failed(e) from e
    found = [
        {"id": p.id, "text": p.text, "source": p.source, "title": p.title, "kb": p.kb_name, "score": p.score}
        for p in passages
    ]
    context = "\n\n".join(f"[{i}] {p['text']}" for i, p in enumerate(found, 1))
    return {"passages": found, "context": context}


async def validate(gw: Gateway, step: ValidateStep, value: Any) -> str | None:
    """Why ``value`` is invalid (schema, then guardrail policy), or None."""
    if step.schema is not None:
        problem = schema_error(step.schema, value)
        if problem is not None:
            return f"does not match the schema: {problem}"
    if step.policy is not None:
        policy = gw.guardrails.policies.get(step.policy)
        if policy is None:
            raise StepFailed(f"no guardrail policy '{step.policy}' in the configuration", retryable=False)
        text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
        specs = policy.output or policy.input
        stage = await run_stage(policy.name, specs, [Segment(text, "assistant", 0)], "output", None)
        try:
            stage.raise_if_refused("the value")
        except PodiumError as e:
            return e.message
    return None
