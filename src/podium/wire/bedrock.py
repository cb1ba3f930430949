"""AWS Bedrock Converse and ConverseStream, adapter side: canonical ↔ wire; Titan and Cohere embeddings.

What translates: system and developer messages (→ ``system``), text, inline images (``image`` with
``format`` and base64 ``bytes``), tool calls and results (``toolUse`` / ``toolResult``), tools
(``toolConfig.tools[].toolSpec``), ``tool_choice`` auto / required (→ ``any``) / a name, ``max_tokens``,
``temperature``, ``top_p``, ``stop`` (→ ``inferenceConfig``), JSON output through a forced tool, and a
guardrail (``guardrailConfig``, trace enabled). Reasoning blocks come back as :class:`ReasoningDelta`
with their signature (or their redacted content), and the reasoning an assistant turn of the history
carries goes back first in that turn as ``reasoningContent`` blocks, unchanged — signed or redacted
ones only, as Claude on Bedrock verifies them (Claude's signatures hold across Anthropic's API and
Bedrock); the guardrail trace comes back on :class:`Finish` (``trace``) as Bedrock sent it;
``guardrail_intervened`` is a ``content_filter`` finish.

Refused by name: ``n`` > 1, ``logprobs``, ``top_logprobs``, ``seed``, the penalties, OpenAI
``metadata``, ``parallel_tool_calls: false``, ``tool_choice: "none"``, image URLs (Bedrock takes
bytes only), and every ``extra`` field (no inbound API speaks Converse's dialect). ``user`` has no
counterpart and is not sent.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from podium.canonical import (
    ChatRequest,
    Embedding,
    EmbeddingRequest,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from podium.errors import ProviderError, RequestError, UpstreamProtocolError, UpstreamStatusError
from podium.wire import bedrock_types as w
from podium.wire.eventstream import EventMessage
from podium.wire.translation import (
    JSON_TOOL,
    call_names,
    claude_signature,
    content_blocks,
    data_image,
    image_format,
    refuse,
    refuse_unsupported,
    tool_input,
)

__all__ = [
    "EXCEPTION_STATUS",
    "PROVIDER",
    "StreamDecoder",
    "converse_events",
    "decode_embeddings",
    "encode_embeddings",
    "encode_request",
    "request_body",
]

PROVIDER = "AWS Bedrock Converse"
_REFUSED = ("n", "logprobs", "top_logprobs", "seed", "presence_penalty", "frequency_penalty", "metadata")

_encode = msgspec.json.Encoder().encode
_converse_decoder = msgspec.json.Decoder(w.ConverseResponse)
_payload_decoder = msgspec.json.Decoder(w.StreamPayload)
_titan_decoder = msgspec.json.Decoder(w.TitanEmbedResponse)
_cohere_decoder = msgspec.json.Decoder(w.CohereEmbedResponse)

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# ConverseStream exception events (``:exception-type``) and the HTTP status each stands for.
EXCEPTION_STATUS: dict[str, int] = {
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "internalServerException": 500,
    "modelStreamErrorException": 500,
    "modelTimeoutException": 408,
    "validationException": 400,
    "accessDeniedException": 403,
    "resourceNotFoundException": 404,
    "modelNotReadyException": 429,
}


# --------------------------------------------------------------------------- request


def _image(p: ImagePart, where: str) -> dict[str, Any]:
    inline = data_image(p.url, PROVIDER, where)
    if inline is None:
        raise refuse(PROVIDER, where, "Bedrock takes image bytes only: send the image as a data: URL.")
    return {"image": {"format": image_format(inline.media_type), "source": {"bytes": inline.data}}}


def _blocks(content: str | tuple[Part, ...] | None, where: str) -> list[dict[str, Any]]:
    return content_blocks(content, where, text=lambda t: {"text": t}, image=_image)


def _reasoning(blocks: tuple[Reasoning, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in blocks:
        if r.redacted is not None:
            out.append({"reasoningContent": {"redactedContent": r.redacted}})
        elif (signature := claude_signature(r)) is not None:
            out.append({"reasoningContent": {"reasoningText": {"text": r.text, "signature": signature}}})
    return out


def _turns(messages: tuple[Message, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    call_names(messages)
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role in ("system", "developer"):
            if isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content):
                raise refuse(PROVIDER, f"{where}.content", "A system message can hold text only.")
            system.append({"text": m.text()})
            continue
        if m.role == "tool":
            role = "user"
            result: list[dict[str, Any]] = _blocks(m.content, where) or [{"text": ""}]
            blocks: list[dict[str, Any]] = [{"toolResult": {"toolUseId": m.tool_call_id, "content": result}}]
        elif m.role == "assistant":
            role = "assistant"
            blocks = _reasoning(m.reasoning) + _blocks(m.content, where)
            for k, c in enumerate(m.tool_calls):
                args = tool_input(c.arguments, f"{where}.tool_calls[{k}].function.arguments")
                blocks.append({"toolUse": {"toolUseId": c.id, "name": c.name, "input": args}})
        else:
            role = "user"
            blocks = _blocks(m.content, where)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _json_tool(fmt: Any) -> dict[str, Any]:
    if isinstance(fmt, JsonSchemaFormat):
        schema = fmt.schema or {"type": "object"}
        if schema.get("type") != "object":
            raise refuse(
                PROVIDER, "response_format.json_schema.schema", "The schema's root must be an object."
            )
        description = fmt.description or f"Answer with JSON that matches the schema '{fmt.name}'."
    else:
        schema = {"type": "object"}
        description = "Answer with a JSON object."
    return {"toolSpec": {"name": JSON_TOOL, "description": description, "inputSchema": {"json": schema}}}


def request_body(req: ChatRequest, *, guardrail: dict[str, str] | None = None) -> dict[str, Any]:
    """The Converse body (the model is in the URL); ``UnsupportedFeature`` for what cannot go."""
    refuse_unsupported(req, PROVIDER, fields=_REFUSED)
    if req.parallel_tool_calls is False:
        raise refuse(PROVIDER, "parallel_tool_calls", "Bedrock cannot be told to call one tool at a time.")
    system, turns = _turns(req.messages)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    config: dict[str, Any] = {}
    if req.max_tokens is not None:
        config["maxTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.stop:
        config["stopSequences"] = list(req.stop)
    if config:
        body["inferenceConfig"] = config
    if req.response_format is not None:
        if req.tools:
            raise refuse(PROVIDER, "response_format", "It cannot be combined with `tools` for this provider.")
        body["toolConfig"] = {
            "tools": [_json_tool(req.response_format)],
            "toolChoice": {"tool": {"name": JSON_TOOL}},
        }
    elif req.tools:
        if req.tool_choice == "none":
            raise refuse(
                PROVIDER, "tool_choice", "Bedrock has no 'none' choice: leave the tools out instead."
            )
        specs = []
        for t in req.tools:
            spec: dict[str, Any] = {"name": t.name}
            if t.description is not None:
                spec["description"] = t.description
            spec["inputSchema"] = {"json": t.parameters or {"type": "object", "properties": {}}}
            specs.append({"toolSpec": spec})
        tool_config: dict[str, Any] = {"tools": specs}
        if req.tool_choice == "auto":
            tool_config["toolChoice"] = {"auto": {}}
        elif req.tool_choice == "required":
            tool_config["toolChoice"] = {"any": {}}
        elif req.tool_choice is not None:
            tool_config["toolChoice"] = {"tool": {"name": req.tool_choice}}
        body["toolConfig"] = tool_config
    elif req.tool_choice not in (None, "auto", "none"):
        raise RequestError("`tool_choice` asks for a tool call, but `tools` is empty.", param="tool_choice")
    if guardrail is not None:
        body["guardrailConfig"] = guardrail
    return body


def encode_request(req: ChatRequest, *, guardrail: dict[str, str] | None = None) -> bytes:
    return _encode(request_body(req, guardrail=guardrail))


# --------------------------------------------------------------------------- answer → events


def _usage(u: w.WireUsage) -> Usage:
    # Like Anthropic's, Bedrock's inputTokens leave cache reads and writes out; canonical counts them in.
    return Usage(
        input_tokens=u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens,
        output_tokens=u.output_tokens,
        cached_input_tokens=u.cache_read_input_tokens,
        cache_write_tokens=u.cache_write_input_tokens,
    )


def _finish(reason: str | None, json_answer: bool) -> FinishReason:
    finish = STOP_REASONS.get(reason or "end_turn", "stop")
    return "stop" if json_answer and finish == "tool_calls" else finish


def _raw_text(value: msgspec.Raw) -> str:
    """A tool's input: an object (Converse) as its JSON text, a string (a stream's piece) as itself."""
    raw = bytes(value)
    if not raw:
        return "{}"
    if raw.startswith(b'"'):
        text: str = msgspec.json.decode(raw, type=str)
        return text
    return raw.decode()


def converse_events(
    body: bytes, *, model: str, request_id: str, deployment: str | None = None
) -> list[Event]:
    """A whole Converse answer as the events a stream of it would carry."""
    try:
        r = _converse_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a Converse response: {exc}", deployment=deployment
        ) from None
    events: list[Event] = [ResponseStart(id=request_id, model=model, created=int(time.time()))]
    calls = 0
    json_answer = False
    message = r.output.message if r.output else None
    for block in message.content if message else ():
        if block.text is not None:
            events.append(TextDelta(text=block.text))
        elif block.tool_use is not None:
            arguments = _raw_text(block.tool_use.input)
            if block.tool_use.name == JSON_TOOL:
                json_answer = True
                events.append(TextDelta(text=arguments))
                continue
            events.append(
                ToolCallDelta(
                    call_index=calls,
                    id=block.tool_use.tool_use_id,
                    name=block.tool_use.name,
                    arguments=arguments,
                )
            )
            calls += 1
        elif block.reasoning_content is not None:
            rc = block.reasoning_content
            if rc.reasoning_text is not None:
                rt = rc.reasoning_text
                events.append(ReasoningDelta(text=rt.text or "", signature=rt.signature))
            elif rc.redacted_content is not None:
                events.append(ReasoningDelta(text="", redacted=rc.redacted_content))
        elif not block.guard_content:
            raise UpstreamProtocolError(
                "The upstream answered with a content block Podium cannot translate.", deployment=deployment
            )
    events.append(Finish(reason=_finish(r.stop_reason, json_answer), trace=r.trace or None))
    if r.usage is not None:
        events.append(_usage(r.usage))
    return events


def _exception(message: EventMessage, deployment: str | None) -> ProviderError:
    kind = str(message.headers.get(":exception-type", "internalServerException"))
    try:
        text = _payload_decoder.decode(message.payload).message or ""
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = message.payload[:200].decode("utf-8", "replace")
    return UpstreamStatusError(
        f"Deployment '{deployment}' sent {kind} mid-stream: {text}",
        upstream_status=EXCEPTION_STATUS.get(kind, 500),
        deployment=deployment,
    )


class StreamDecoder:
    """Turns ConverseStream event-stream messages into events.

    ``messageStop`` carries the stop reason and ``metadata`` (after it) the usage and guardrail trace,
    so the :class:`Finish` is held until ``metadata`` arrives; ``done`` is set then.
    """

    __slots__ = ("_blocks", "_calls", "_deployment", "_json_answer", "_model", "_request_id", "_stop", "done")

    def __init__(self, *, model: str, request_id: str, deployment: str | None = None) -> None:
        self._model = model
        self._request_id = request_id
        self._deployment = deployment
        self._blocks: dict[int, int] = {}  # content block index -> call index (tool blocks), -1: JSON answer
        self._calls = 0
        self._json_answer = False
        self._stop: str | None = None
        self.done = False

    def feed(self, message: EventMessage) -> list[Event]:
        if message.headers.get(":message-type") == "exception":
            raise _exception(message, self._deployment)
        kind = str(message.headers.get(":event-type", ""))
        try:
            p = _payload_decoder.decode(message.payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamProtocolError(
                f"The upstream sent a {kind} event that is not Converse JSON: {exc}",
                deployment=self._deployment,
            ) from None
        if kind == "contentBlockDelta":
            return self._delta(p)
        if kind == "contentBlockStart":
            tool = p.start.tool_use if p.start else None
            if tool is None:
                return []
            index = p.content_block_index or 0
            if tool.name == JSON_TOOL:
                self._json_answer = True
                self._blocks[index] = -1
                return []
            call = self._blocks[index] = self._calls
            self._calls += 1
            return [ToolCallDelta(call_index=call, id=tool.tool_use_id, name=tool.name)]
        if kind == "messageStart":
            return [ResponseStart(id=self._request_id, model=self._model, created=int(time.time()))]
        if kind == "messageStop":
            self._stop = p.stop_reason or "end_turn"
            return []
        if kind == "metadata":
            self.done = True
            events: list[Event] = [
                Finish(reason=_finish(self._stop, self._json_answer), trace=p.trace or None)
            ]
            if p.usage is not None:
                events.append(_usage(p.usage))
            return events
        return []  # contentBlockStop, and event types added later

    def _delta(self, p: w.StreamPayload) -> list[Event]:
        d = p.delta
        if d is None:
            return []
        if d.text is not None:
            return [TextDelta(text=d.text)] if d.text else []
        if d.tool_use is not None:
            piece = _raw_text(d.tool_use.input) if bytes(d.tool_use.input) else ""
            call = self._blocks.get(p.content_block_index or 0, 0)
            if call < 0:
                return [TextDelta(text=piece)] if piece else []
            return [ToolCallDelta(call_index=call, arguments=piece)]
        if d.reasoning_content is not None:
            rc = d.reasoning_content
            if rc.signature is not None:
                return [ReasoningDelta(text="", signature=rc.signature)]
            if rc.redacted_content is not None:
                return [ReasoningDelta(text="", redacted=rc.redacted_content)]
            return [ReasoningDelta(text=rc.text)] if rc.text else []
        return []

    def end(self) -> list[Event]:
        """At the end of the body: the held finish, if ``metadata`` never came after ``messageStop``."""
        if self.done or self._stop is None:
            return []
        self.done = True
        return [Finish(reason=_finish(self._stop, self._json_answer))]


# --------------------------------------------------------------------------- embeddings (InvokeModel)


def embedding_family(model: str) -> str | None:
    """``titan`` or ``cohere`` for the embedding models Podium can call, else ``None``."""
    if "titan-embed" in model:
        return "titan"
    if "cohere.embed" in model or model.startswith("embed-"):
        return "cohere"
    return None


def encode_embeddings(req: EmbeddingRequest, *, family: str) -> list[bytes]:
    """One body per call: Titan embeds one text per request, Cohere a batch."""
    texts: list[str] = []
    for item in req.inputs:
        if not isinstance(item, str):
            raise refuse(PROVIDER, "input", "Send text, not token ids.")
        texts.append(item)
    if family == "titan":
        bodies = []
        for text in texts:
            body: dict[str, Any] = {"inputText": text}
            if req.dimensions is not None:
                body["dimensions"] = req.dimensions
            bodies.append(_encode(body))
        return bodies
    if req.dimensions is not None:
        raise refuse(PROVIDER, "dimensions", "Cohere embeddings on Bedrock have a fixed size.")
    return [_encode({"texts": texts, "input_type": "search_document"})]


def decode_embeddings(
    bodies: list[bytes], req: EmbeddingRequest, *, family: str, deployment: str | None = None
) -> tuple[list[Embedding], Usage]:
    try:
        if family == "titan":
            answers = [_titan_decoder.decode(b) for b in bodies]
            data = [Embedding(index=i, vector=tuple(a.embedding)) for i, a in enumerate(answers)]
            return data, Usage(input_tokens=sum(a.input_text_token_count for a in answers), output_tokens=0)
        (answer,) = [_cohere_decoder.decode(b) for b in bodies]
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a {family} embedding: {exc}",
            deployment=deployment,
        ) from None
    vectors = answer.embeddings if isinstance(answer.embeddings, list) else answer.embeddings.get("float", [])
    data = [Embedding(index=i, vector=tuple(v)) for i, v in enumerate(vectors)]
    # Cohere on Bedrock reports no token count: about four characters a token, marked estimated.
    chars = sum(len(t) for t in req.inputs if isinstance(t, str))
    return data, Usage(input_tokens=max(1, chars // 4), output_tokens=0, estimated=True)
