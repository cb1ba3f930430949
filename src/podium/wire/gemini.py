"""Google Gemini ``generateContent`` (Gemini API and Vertex AI), adapter side: canonical ↔ wire.

What translates: system and developer messages (→ ``systemInstruction``), text, inline images
(``inlineData``) and ``gs://`` images (``fileData``), tool calls and results (``functionCall`` /
``functionResponse``, the result named by the call it answers), tools (``functionDeclarations``
with ``parametersJsonSchema``), ``tool_choice`` (→ ``toolConfig.functionCallingConfig``),
``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``n`` (``candidateCount``), ``seed``, the
penalties, and JSON output (``responseMimeType`` + ``responseJsonSchema``). Thought parts come back
as :class:`ReasoningDelta`, and a part's ``thoughtSignature`` as a signed one (marked
:data:`~podium.wire.translation.GEMINI_SIGNED`) that goes back on the turn's first function call, as
Gemini requires of a thinking model's tool calls; a safety block (``promptFeedback.blockReason`` or a safety
``finishReason``) is a ``content_filter`` finish, not an error.

Refused by name: ``logprobs``, ``top_logprobs``, ``parallel_tool_calls: false``, OpenAI ``metadata``,
image URLs other than ``data:`` and ``gs://``, and every ``extra`` field (no inbound API speaks
Gemini's dialect). ``user`` has no counterpart and is not sent.
"""

from __future__ import annotations

import secrets
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
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from podium.errors import RequestError, UpstreamProtocolError
from podium.wire import gemini_types as w
from podium.wire.translation import (
    GEMINI_SIGNED,
    call_names,
    content_blocks,
    data_image,
    refuse,
    refuse_unsupported,
    tool_input,
)

__all__ = [
    "PROVIDER",
    "StreamDecoder",
    "decode_batch_embeddings",
    "decode_predict_embeddings",
    "encode_batch_embeddings",
    "encode_predict_embeddings",
    "encode_request",
    "request_body",
    "response_events",
]

PROVIDER = "Google Gemini"
_REFUSED = ("logprobs", "top_logprobs", "metadata")

_encode = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode
_response_decoder = msgspec.json.Decoder(w.GenerateContentResponse)
_batch_decoder = msgspec.json.Decoder(w.BatchEmbedResponse)
_predict_decoder = msgspec.json.Decoder(w.PredictResponse)

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "OTHER": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


# --------------------------------------------------------------------------- request


def _image(p: ImagePart, where: str) -> dict[str, Any]:
    inline = data_image(p.url, PROVIDER, where)
    if inline is not None:
        return {"inlineData": {"mimeType": inline.media_type, "data": inline.data}}
    if p.url.startswith("gs://"):
        ext = p.url.rsplit(".", 1)[-1].lower()
        return {"fileData": {"mimeType": _IMAGE_TYPES.get(ext, "image/jpeg"), "fileUri": p.url}}
    raise refuse(PROVIDER, where, "Send the image inline as a data: URL (or as a gs:// URI on Vertex AI).")


def _parts(content: str | tuple[Part, ...] | None, where: str) -> list[dict[str, Any]]:
    return content_blocks(content, where, text=lambda t: {"text": t}, image=_image)


def _function_response(m: Message, name: str) -> dict[str, Any]:
    text = m.text()
    try:
        value = _decode_json(text) if text.lstrip().startswith("{") else None
    except msgspec.DecodeError:
        value = None
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _sign(m: Message, parts: list[dict[str, Any]]) -> None:
    """Give the turn's thought signature back where Gemini puts it: on the first function call, else
    on the last part. Gemini refuses a function call of a thinking turn that comes back without it."""
    signature = next(
        (r.signature for r in m.reasoning if r.signature and r.signature.startswith(GEMINI_SIGNED)), None
    )
    if signature is None or not parts:
        return
    target = next((p for p in parts if "functionCall" in p), parts[-1])
    target["thoughtSignature"] = signature.removeprefix(GEMINI_SIGNED)


def _contents(messages: tuple[Message, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = call_names(messages)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role in ("system", "developer"):
            if isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content):
                raise refuse(PROVIDER, f"{where}.content", "A system message can hold text only.")
            system.append({"text": m.text()})
            continue
        if m.role == "tool":
            role = "user"
            parts = [_function_response(m, names[m.tool_call_id or ""])]
        elif m.role == "assistant":
            role = "model"
            parts = _parts(m.content, where)
            for k, c in enumerate(m.tool_calls):
                args = tool_input(c.arguments, f"{where}.tool_calls[{k}].function.arguments")
                parts.append({"functionCall": {"name": c.name, "args": args}})
            _sign(m, parts)
        else:
            role = "user"
            parts = _parts(m.content, where)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _schema_config(fmt: Any) -> dict[str, Any]:
    if isinstance(fmt, JsonSchemaFormat):
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        if fmt.schema is not None:
            config["responseJsonSchema"] = fmt.schema
        return config
    return {"responseMimeType": "application/json"}


def request_body(req: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` body (the model is in the URL); ``UnsupportedFeature`` for what cannot go."""
    refuse_unsupported(req, PROVIDER, fields=_REFUSED)
    if req.parallel_tool_calls is False:
        raise refuse(PROVIDER, "parallel_tool_calls", "Gemini cannot be told to call one tool at a time.")
    system, contents = _contents(req.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if req.tools:
        declarations = []
        for t in req.tools:
            fn: dict[str, Any] = {"name": t.name}
            if t.description is not None:
                fn["description"] = t.description
            if t.parameters is not None:
                fn["parametersJsonSchema"] = t.parameters
            declarations.append(fn)
        body["tools"] = [{"functionDeclarations": declarations}]
        mode: dict[str, Any] | None = None
        if req.tool_choice == "auto":
            mode = {"mode": "AUTO"}
        elif req.tool_choice == "required":
            mode = {"mode": "ANY"}
        elif req.tool_choice == "none":
            mode = {"mode": "NONE"}
        elif req.tool_choice is not None:
            mode = {"mode": "ANY", "allowedFunctionNames": [req.tool_choice]}
        if mode is not None:
            body["toolConfig"] = {"functionCallingConfig": mode}
    elif req.tool_choice not in (None, "auto", "none"):
        raise RequestError("`tool_choice` asks for a tool call, but `tools` is empty.", param="tool_choice")
    config: dict[str, Any] = {}
    if req.max_tokens is not None:
        config["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.stop:
        config["stopSequences"] = list(req.stop)
    if req.n != 1:
        config["candidateCount"] = req.n
    if req.seed is not None:
        config["seed"] = req.seed
    if req.presence_penalty is not None:
        config["presencePenalty"] = req.presence_penalty
    if req.frequency_penalty is not None:
        config["frequencyPenalty"] = req.frequency_penalty
    if req.response_format is not None:
        config.update(_schema_config(req.response_format))
    if config:
        body["generationConfig"] = config
    return body


def encode_request(req: ChatRequest) -> bytes:
    return _encode(request_body(req))


# --------------------------------------------------------------------------- answer → events


def _usage(u: w.UsageMetadata) -> Usage:
    return Usage(
        input_tokens=u.prompt_token_count + u.tool_use_prompt_token_count,
        output_tokens=u.candidates_token_count + u.thoughts_token_count,
        cached_input_tokens=u.cached_content_token_count,
        reasoning_tokens=u.thoughts_token_count,
    )


def _decode(body: bytes, deployment: str | None) -> w.GenerateContentResponse:
    try:
        return _response_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a Gemini response: {exc}", deployment=deployment
        ) from None


class StreamDecoder:
    """Turns ``GenerateContentResponse`` chunks (whole answers or SSE ``data:``) into events.

    Text parts are deltas; a function call arrives whole in one part. Usage is cumulative in each
    chunk, so only the last is kept and emitted by :meth:`finish`, once the stream has ended.
    """

    __slots__ = ("_calls", "_deployment", "_finished", "_saw_calls", "_started", "_usage", "blocked")

    def __init__(self, deployment: str | None = None) -> None:
        self._deployment = deployment
        self._started = False
        self._calls: dict[int, int] = {}  # candidate index -> calls so far
        self._saw_calls: set[int] = set()
        self._finished: set[int] = set()
        self._usage: Usage | None = None
        self.blocked = False

    @property
    def finished(self) -> bool:
        """Whether a finish reason has arrived (a stream that ends before it was cut)."""
        return bool(self._finished) or self.blocked

    def feed(self, data: bytes) -> list[Event]:
        r = _decode(data, self._deployment)
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(ResponseStart(id=r.response_id, model=r.model_version, created=int(time.time())))
        if r.usage_metadata is not None:
            self._usage = _usage(r.usage_metadata)
        if not r.candidates and r.prompt_feedback is not None and r.prompt_feedback.block_reason:
            # The prompt itself was blocked: no candidate at all, which callers see as a filtered answer.
            self.blocked = True
            events.append(Finish(reason="content_filter"))
            return events
        for cand in r.candidates:
            index = cand.index
            for part in cand.content.parts if cand.content else ():
                if part.thought_signature:  # the turn's thinking, sealed: it goes back with the turn
                    signature = GEMINI_SIGNED + part.thought_signature
                    events.append(ReasoningDelta(text="", signature=signature, index=index))
                if part.function_call is not None:
                    fc = part.function_call
                    k = self._calls.get(index, 0)
                    self._calls[index] = k + 1
                    self._saw_calls.add(index)
                    args = bytes(fc.args).decode() or "{}"
                    call_id = fc.id or f"call_{secrets.token_hex(12)}"
                    events.append(
                        ToolCallDelta(call_index=k, id=call_id, name=fc.name, arguments=args, index=index)
                    )
                elif part.text is not None:
                    if part.thought:
                        events.append(ReasoningDelta(text=part.text, index=index))
                    elif part.text:
                        events.append(TextDelta(text=part.text, index=index))
                elif part.executable_code is not None or part.code_execution_result is not None:
                    raise UpstreamProtocolError(
                        "The upstream answered with code-execution parts, which Podium cannot translate.",
                        deployment=self._deployment,
                    )
            if cand.finish_reason and index not in self._finished:
                self._finished.add(index)
                reason = FINISH_REASONS.get(cand.finish_reason, "stop")
                if reason == "stop" and index in self._saw_calls:
                    reason = "tool_calls"
                events.append(Finish(reason=reason, index=index))
        return events

    def finish(self) -> list[Event]:
        """What the end of the answer adds: its usage, when the upstream reported any."""
        return [self._usage] if self._usage is not None else []


def response_events(body: bytes, *, deployment: str | None = None) -> list[Event]:
    """A whole (non-streaming) answer as the events a stream of it would carry."""
    decoder = StreamDecoder(deployment)
    events = decoder.feed(body)
    if not decoder.finished:
        events.append(Finish(reason="stop"))
    return events + decoder.finish()


# --------------------------------------------------------------------------- embeddings


def _texts(req: EmbeddingRequest, provider: str) -> list[str]:
    texts = []
    for item in req.inputs:
        if not isinstance(item, str):
            raise refuse(provider, "input", "Send text, not token ids.")
        texts.append(item)
    return texts


def encode_batch_embeddings(req: EmbeddingRequest, *, model: str) -> bytes:
    """``models/{model}:batchEmbedContents`` (Gemini API)."""
    requests = []
    for text in _texts(req, PROVIDER):
        item: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if req.dimensions is not None:
            item["outputDimensionality"] = req.dimensions
        requests.append(item)
    return _encode({"requests": requests})


def encode_predict_embeddings(req: EmbeddingRequest) -> bytes:
    """``…/models/{model}:predict`` (Vertex AI)."""
    body: dict[str, Any] = {"instances": [{"content": t} for t in _texts(req, "Vertex AI")]}
    if req.dimensions is not None:
        body["parameters"] = {"outputDimensionality": req.dimensions}
    return _encode(body)


def _estimate(req: EmbeddingRequest) -> Usage:
    # Gemini's batch endpoint reports no token count; about four characters a token, marked estimated.
    chars = sum(len(t) for t in req.inputs if isinstance(t, str))
    return Usage(input_tokens=max(1, chars // 4), output_tokens=0, estimated=True)


def decode_batch_embeddings(
    body: bytes, req: EmbeddingRequest, *, deployment: str | None = None
) -> tuple[list[Embedding], Usage]:
    try:
        r = _batch_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a Gemini embedding list: {exc}",
            deployment=deployment,
        ) from None
    data = [Embedding(index=i, vector=tuple(e.values)) for i, e in enumerate(r.embeddings)]
    return data, _estimate(req)


def decode_predict_embeddings(body: bytes, *, deployment: str | None = None) -> tuple[list[Embedding], Usage]:
    try:
        r = _predict_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a Vertex AI prediction list: {exc}",
            deployment=deployment,
        ) from None
    data = [Embedding(index=i, vector=tuple(p.embeddings.values)) for i, p in enumerate(r.predictions)]
    tokens = sum(int(p.embeddings.statistics.token_count) for p in r.predictions if p.embeddings.statistics)
    return data, Usage(input_tokens=tokens, output_tokens=0)
