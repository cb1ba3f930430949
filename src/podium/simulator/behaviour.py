"""The simulator's behaviour core: what a simulated model answers, and whether it fails.

Both front ends — the in-process models and the standalone HTTP server — ask a :class:`Simulation`
for the answer as canonical events and for the failure (if any) to give instead; they differ only in
how they deliver them (events and exceptions, or bytes on a socket) and in when they sleep.

Modes (see :mod:`podium.simulator.spec`):

``echo``   the last user message's text; tool calls when tools are offered (unless ``tool_choice`` is
           ``"none"``, or the last message is a tool result and no call is forced); JSON when a
           response format asks for it; after a tool result, text that quotes the result.
``tools``  always calls the offered tools (all of them, or one when ``parallel_tool_calls`` is false or
           a tool is named); answers as ``echo`` when no tool is offered or ``tool_choice`` is ``"none"``.
``json``   JSON that conforms to the request's schema, or ``{"echo": text}`` without one.
``lorem``  ``words`` words of fixed placeholder text.
``embed``  as a chat model, answers as ``echo``; every mode embeds the same way.

With ``thinking`` (or ``redacted_thinking``) every mode reasons first (:mod:`podium.simulator.thinking`).
"""

from __future__ import annotations

import json
import random
import re
import time
from functools import lru_cache

from podium.canonical import (
    ChatRequest,
    Embedding,
    EmbeddingRequest,
    EmbeddingResult,
    Event,
    Finish,
    FinishReason,
    JsonSchemaFormat,
    Message,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)
from podium.simulator import thinking
from podium.simulator.embedding import embed_text, embed_token_ids
from podium.simulator.schema_instance import instance_for
from podium.simulator.spec import SimSpec
from podium.simulator.tokens import count_tokens, truncate_to_tokens

__all__ = ["SimulatedError", "Simulation", "lorem"]

_FINGERPRINT = "fp_podium_sim"
_WORD_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")
_ARGUMENT_PIECES = 3

_LOREM_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip "
    "ex ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt "
    "mollit anim id est laborum"
)
_LOREM = _LOREM_TEXT.split()

# status -> (OpenAI error type, code), as the real API answers them
_ERROR_SHAPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


class SimulatedError(Exception):
    """An error answer: an HTTP status and the parts of OpenAI's error JSON."""

    def __init__(
        self, status: int, message: str, *, retry_after: float | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.param = param
        fallback = ("invalid_request_error", None) if status < 500 else ("server_error", None)
        self.type, self.code = _ERROR_SHAPES.get(status, fallback)


@lru_cache(maxsize=64)
def lorem(words: int) -> str:
    """``words`` words of placeholder text, always the same, as sentences of twelve words."""
    out: list[str] = []
    for i in range(words):
        word = _LOREM[i % len(_LOREM)]
        if i % 12 == 0:
            word = word.capitalize()
        if i % 12 == 11 or i == words - 1:
            word += "."
        out.append(word)
    return " ".join(out)


@lru_cache(maxsize=4096)
def _cached_text_vector(text: str, dims: int) -> tuple[float, ...]:
    return embed_text(text, dims)


def _chunks(text: str, words_per_chunk: int) -> list[str]:
    """``text`` cut into pieces of ``words_per_chunk`` words, each keeping its trailing spaces."""
    if not text:
        return []
    pieces = _WORD_BOUNDARY.split(text)
    if words_per_chunk > 1:
        pieces = ["".join(pieces[i : i + words_per_chunk]) for i in range(0, len(pieces), words_per_chunk)]
    return pieces


def _pieces(arguments: str) -> list[str]:
    """Tool-call arguments in a few pieces, as a real stream delivers them."""
    size = max(1, -(-len(arguments) // _ARGUMENT_PIECES))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _last_user_text(messages: tuple[Message, ...]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            return m.text()
    return ""


def _tool_results_text(messages: tuple[Message, ...]) -> str:
    """The trailing tool results, each named by the call it answers."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    results: list[str] = []
    for m in reversed(messages):
        if m.role != "tool":
            break
        name = names.get(m.tool_call_id or "", m.name or "tool")
        results.append(f"{name} returned: {m.text()}")
    return "\n".join(reversed(results))


def _message_tokens(m: Message) -> int:
    text = m.text()
    for c in m.tool_calls:
        text += c.name + c.arguments
    return max(1, count_tokens(text))


class Simulation:
    """The behaviour of one simulated model: its spec and its source of randomness.

    With ``seed`` set, failure draws and generated ids repeat exactly from one run to the next.
    """

    __slots__ = ("_random", "spec")

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        self._random = random.Random(spec.seed)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._random.getrandbits(96):024x}"

    def failure(self) -> SimulatedError | None:
        """The error to answer with instead of an answer, drawn from ``status`` / ``error_rate``."""
        spec = self.spec
        status = spec.failure_status
        if status is None:
            return None
        rate = spec.failure_rate
        if rate < 1.0 and self._random.random() >= rate:
            return None
        return SimulatedError(
            status,
            f"Simulated failure: HTTP {status} from {spec.name} (simulator options status/error_rate).",
            retry_after=spec.retry_after,
        )

    # ------------------------------------------------------------------ chat

    def chat(self, request: ChatRequest) -> list[Event]:
        """The whole answer as events: ``ResponseStart``, content, ``Finish`` per choice, ``Usage``.

        Raises :class:`SimulatedError` (400) for a request a real model would reject.
        """
        spec = self.spec
        last = request.messages[-1] if request.messages else None
        after_tool = last is not None and last.role == "tool"
        forced = request.tool_choice not in (None, "auto", "none")
        calls_tools = bool(request.tools) and request.tool_choice != "none"
        if spec.mode in ("echo", "embed"):
            calls_tools = calls_tools and (not after_tool or forced)
        elif spec.mode in ("lorem", "json"):
            calls_tools = False
        source = _tool_results_text(request.messages) if after_tool else _last_user_text(request.messages)
        tools = self._chosen_tools(request) if calls_tools else ()

        events: list[Event] = [
            ResponseStart(
                id=self.new_id("chatcmpl-"),
                model=spec.name,
                created=int(time.time()),
                system_fingerprint=_FINGERPRINT,
            )
        ]
        output_tokens = 0
        thinks = thinking.requested(request, knob=spec.thinking or spec.redacted_thinking)
        for index in range(request.n):
            if thinks:
                reasoning = thinking.thoughts(source, index=index, redacted=spec.redacted_thinking)
                events.extend(reasoning)
                output_tokens += sum(count_tokens(e.text) for e in reasoning if isinstance(e, ReasoningDelta))
            if tools:
                output_tokens += self._tool_calls(events, tools, source, index)
            else:
                output_tokens += self._text(events, request, source, index)
        if self.spec.usage:
            input_tokens = sum(_message_tokens(m) for m in request.messages)
            cached = min(spec.cached_tokens, input_tokens)
            written = min(spec.cache_write_tokens, input_tokens - cached)
            events.append(
                Usage(
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cached_input_tokens=cached,
                    cache_write_tokens=written,
                )
            )
        return events

    @staticmethod
    def _chosen_tools(request: ChatRequest) -> tuple[Tool, ...]:
        choice = request.tool_choice
        if choice not in (None, "auto", "required"):
            named = tuple(t for t in request.tools if t.name == choice)
            if not named:
                raise SimulatedError(
                    400,
                    f"tool_choice names the function '{choice}', which is not among `tools`.",
                    param="tool_choice",
                )
            return named
        return request.tools[:1] if request.parallel_tool_calls is False else request.tools

    def _tool_calls(self, events: list[Event], tools: tuple[Tool, ...], source: str, index: int) -> int:
        tokens = 0
        for k, tool in enumerate(tools):
            schema = tool.parameters or {"type": "object", "properties": {}}
            arguments = json.dumps(instance_for(schema, text=source))
            events.append(ToolCallDelta(call_index=k, id=self.new_id("call_"), name=tool.name, index=index))
            events.extend(ToolCallDelta(call_index=k, arguments=p, index=index) for p in _pieces(arguments))
            tokens += count_tokens(tool.name + arguments)
        events.append(Finish(reason="tool_calls", index=index))
        return tokens

    def _answer_text(self, request: ChatRequest, source: str) -> str:
        mode = self.spec.mode
        if mode == "lorem":
            return lorem(self.spec.words)
        fmt = request.response_format
        if isinstance(fmt, JsonSchemaFormat):
            return json.dumps(instance_for(fmt.schema or {"type": "object"}, text=source))
        if fmt == "json_object" or mode == "json":
            return json.dumps({"echo": source})
        return source

    def _text(self, events: list[Event], request: ChatRequest, source: str, index: int) -> int:
        text = self._answer_text(request, source)
        reason: FinishReason = "stop"
        for stop in request.stop:
            cut = text.find(stop) if stop else -1
            if cut >= 0:
                text = text[:cut]
        if request.max_tokens is not None and count_tokens(text) > request.max_tokens:
            text = truncate_to_tokens(text, request.max_tokens)
            reason = "length"
        events.extend(TextDelta(text=piece, index=index) for piece in _chunks(text, self.spec.chunk_words))
        events.append(Finish(reason=reason, index=index))
        return count_tokens(text)

    # ------------------------------------------------------------------ embeddings

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        dims = request.dimensions if request.dimensions is not None else self.spec.dims
        if dims < 1:
            raise SimulatedError(400, "`dimensions` must be at least 1.", param="dimensions")
        data: list[Embedding] = []
        tokens = 0
        inputs: tuple[str | tuple[int, ...], ...] = request.inputs
        for i, item in enumerate(inputs):
            if isinstance(item, str):
                data.append(Embedding(index=i, vector=_cached_text_vector(item, dims)))
                tokens += count_tokens(item)
            else:
                data.append(Embedding(index=i, vector=embed_token_ids(item, dims)))
                tokens += len(item)
        return EmbeddingResult(
            model=self.spec.name, data=tuple(data), usage=Usage(input_tokens=tokens, output_tokens=0)
        )
