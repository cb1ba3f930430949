"""The simulator's Google Gemini front end: the Gemini API and Vertex AI paths, one behaviour.

``:generateContent`` answers one ``GenerateContentResponse``; ``:streamGenerateContent?alt=sse``
streams them as SSE ``data:`` frames with no end marker, text in pieces, each function call whole,
and ``usageMetadata`` only in the last frame. ``:embedContent`` / ``:batchEmbedContents`` (Gemini API)
and ``:predict`` (Vertex AI) embed. A request part the API does not define is a 400
``INVALID_ARGUMENT``; the fault knobs answer Google's error JSON (``RESOURCE_EXHAUSTED`` for 429).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from podium.canonical import (
    ChatRequest,
    EmbeddingRequest,
    Event,
    Finish,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from podium.simulator import server as core
from podium.simulator import thinking
from podium.simulator.behaviour import SimulatedError, Simulation
from podium.simulator.dialects import error_response

__all__ = ["add_routes"]

_FINISH = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
    "error": "OTHER",
}
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}


class _Bad(Exception):
    pass


def _dialect(request: web.Request) -> str:
    return "vertex" if request.path.startswith("/v1/projects/") else "gemini"


def _parts(
    parts: list[dict[str, Any]], where: str
) -> tuple[list[Part], list[ToolCall], list[dict[str, Any]]]:
    content: list[Part] = []
    calls: list[ToolCall] = []
    results: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        if "text" in p:
            content.append(TextPart(text=p["text"]))
        elif "inlineData" in p:
            d = p["inlineData"]
            content.append(ImagePart(url=f"data:{d['mimeType']};base64,{d['data']}"))
        elif "fileData" in p:
            content.append(ImagePart(url=p["fileData"]["fileUri"]))
        elif "functionCall" in p:
            fc = p["functionCall"]
            calls.append(
                ToolCall(id=f"call_{fc['name']}", name=fc["name"], arguments=json.dumps(fc.get("args", {})))
            )
        elif "functionResponse" in p:
            results.append(p["functionResponse"])
        else:
            raise _Bad(f"Invalid JSON payload received. Unknown name in {where}.parts[{j}]: {sorted(p)}")
    return content, calls, results


def unsigned_calls(body: dict[str, Any]) -> list[str]:
    """The model turns whose first function call has no valid ``thoughtSignature``, as Gemini 3 names
    them when a thinking model's tool call comes back without one."""
    out = []
    for i, c in enumerate(body.get("contents", [])):
        if c.get("role") != "model":
            continue
        first = next((p for p in c.get("parts", []) if "functionCall" in p), None)
        signature = first.get("thoughtSignature") if first is not None else None
        if first is not None and not (isinstance(signature, str) and thinking.gemini_signature_ok(signature)):
            out.append(
                f"Function call `{first['functionCall'].get('name', '')}` in the {i + 1}. content block is "
                "missing a `thought_signature`."
            )
    return out


def _chat_request(model: str, body: dict[str, Any], stream: bool) -> ChatRequest:
    messages: list[Message] = []
    system = body.get("systemInstruction")
    if system:
        messages.append(
            Message(role="system", content="".join(p.get("text", "") for p in system.get("parts", [])))
        )
    for i, c in enumerate(body.get("contents", [])):
        content, calls, results = _parts(c.get("parts", []), f"contents[{i}]")
        if c.get("role") == "model":
            messages.append(
                Message(role="assistant", content=tuple(content) or None, tool_calls=tuple(calls))
            )
            continue
        messages.extend(
            Message(role="tool", tool_call_id=f"call_{r['name']}", content=json.dumps(r.get("response", {})))
            for r in results
        )
        if content:
            messages.append(Message(role="user", content=tuple(content)))
    tools = tuple(
        Tool(
            name=f["name"],
            description=f.get("description"),
            parameters=f.get("parametersJsonSchema") or f.get("parameters"),
        )
        for t in body.get("tools", [])
        for f in t.get("functionDeclarations", [])
    )
    config = body.get("generationConfig", {})
    calling = body.get("toolConfig", {}).get("functionCallingConfig", {})
    tool_choice = _MODES.get(calling.get("mode", ""))
    allowed = calling.get("allowedFunctionNames") or []
    if len(allowed) == 1:
        tool_choice = allowed[0]
    response_format: Any = None
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        response_format = JsonSchemaFormat(name="response", schema=schema) if schema else "json_object"
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        stream=stream,
        max_tokens=config.get("maxOutputTokens"),
        temperature=config.get("temperature"),
        stop=tuple(config.get("stopSequences", ())),
        n=config.get("candidateCount", 1),
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
    )


class _Encoder:
    """Events → ``GenerateContentResponse`` objects; function calls are gathered and sent whole."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self.calls: dict[tuple[int, int], list[str]] = {}
        self.signatures: dict[int, str] = {}  # per candidate: its thinking, sealed
        self.usage: Usage | None = None

    def _response(self, candidates: list[dict[str, Any]], usage: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"candidates": candidates, "modelVersion": self.model, "responseId": self.id}
        if usage and self.usage is not None:
            u = self.usage
            out["usageMetadata"] = {
                "promptTokenCount": u.input_tokens,
                "candidatesTokenCount": u.output_tokens,
                "totalTokenCount": u.input_tokens + u.output_tokens,
                **({"cachedContentTokenCount": u.cached_input_tokens} if u.cached_input_tokens else {}),
            }
        return out

    def encode(self, event: Event) -> dict[str, Any] | None:
        if isinstance(event, ResponseStart):
            self.id = event.id
            return None
        if isinstance(event, ReasoningDelta) and (event.signature or event.redacted):
            # Gemini has no redacted thoughts; a signed block's signature is sealed for the turn's end.
            if event.signature:
                self.signatures[event.index] = thinking.gemini_signature(event.signature)
            return None
        if isinstance(event, TextDelta | ReasoningDelta):
            part: dict[str, Any] = {"text": event.text}
            if isinstance(event, ReasoningDelta):
                part["thought"] = True
            return self._response([{"content": {"role": "model", "parts": [part]}, "index": event.index}])
        if isinstance(event, ToolCallDelta):
            call = self.calls.setdefault((event.index, event.call_index), ["", ""])
            call[0] = call[0] or event.name or ""
            call[1] += event.arguments
            return None
        if isinstance(event, Finish):
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": name, "args": json.loads(args or "{}")}}
                for (index, _), (name, args) in sorted(self.calls.items())
                if index == event.index
            ]
            signature = self.signatures.pop(event.index, None)
            if signature is not None:  # on the first function call; else on a last, empty text part
                if parts:
                    parts[0]["thoughtSignature"] = signature
                else:
                    parts.append({"text": "", "thoughtSignature": signature})
            candidate: dict[str, Any] = {"finishReason": _FINISH[event.reason], "index": event.index}
            candidate["content"] = {"role": "model", "parts": parts}
            return self._response([candidate])
        if isinstance(event, Usage):
            self.usage = event
        return None

    def frame(self, event: Event) -> bytes | None:
        obj = self.encode(event)
        return None if obj is None else b"data: " + msgspec.json.encode(obj) + b"\r\n\r\n"

    def whole(self, events: list[Event]) -> dict[str, Any]:
        candidates: dict[int, dict[str, Any]] = {}
        for event in events:
            obj = self.encode(event)
            for c in obj["candidates"] if obj else ():
                merged = candidates.setdefault(
                    c["index"], {"content": {"role": "model", "parts": []}, "index": c["index"]}
                )
                merged["content"]["parts"].extend(c.get("content", {}).get("parts", []))
                if "finishReason" in c:
                    merged["finishReason"] = c["finishReason"]
        return self._response([candidates[i] for i in sorted(candidates)], usage=True)


def _fail_for(dialect: str) -> Any:
    def fail(f: SimulatedError) -> web.Response:
        return error_response(dialect, f.status, f.message, retry_after=f.retry_after)  # type: ignore[arg-type]

    return fail


def _sim(request: web.Request, model: str) -> Simulation | web.Response:
    sim = core._simulation(request, model)
    if isinstance(sim, web.Response):
        return error_response(_dialect(request), 400, f"models/{model} is not a simulator model")  # type: ignore[arg-type]
    return sim


async def _generate(request: web.Request) -> web.StreamResponse:
    dialect = _dialect(request)
    model, _, method = request.match_info["call"].rpartition(":")
    if method in ("embedContent", "batchEmbedContents", "predict"):
        return await _embed(request, model, method)
    if method not in ("generateContent", "streamGenerateContent"):
        return error_response(dialect, 404, f"Method not found: {method}")  # type: ignore[arg-type]
    stream = method == "streamGenerateContent"
    if stream and request.query.get("alt") != "sse":
        return error_response(dialect, 400, "the simulator streams only with ?alt=sse")  # type: ignore[arg-type]
    try:
        body = json.loads(await request.read())
        chat = _chat_request(model, body, stream)
    except (ValueError, KeyError, TypeError, AttributeError, _Bad) as exc:
        return error_response(dialect, 400, f"Invalid JSON payload received: {exc}")  # type: ignore[arg-type]
    sim = _sim(request, model)
    if isinstance(sim, web.Response):
        return sim
    spec = sim.spec
    if spec.thinking and (unsigned := unsigned_calls(body)):
        return error_response(dialect, 400, " ".join(unsigned))  # type: ignore[arg-type]
    fail = _fail_for(dialect)
    try:
        events = sim.chat(chat)
    except SimulatedError as failure:
        return fail(failure)  # type: ignore[no-any-return]
    instead = await core._prelude(request, sim, 0.0 if stream else spec.ttft_ms, fail)
    if instead is not None:
        return instead
    encoder = _Encoder(model)
    if not stream:
        if spec.malformed:
            return web.Response(body=core._MALFORMED_BODY, content_type="application/json")
        if spec.disconnect_after is not None:
            core._drop(request)
            return web.Response()
        return web.json_response(encoder.whole(events))
    response = web.StreamResponse(headers=core._SSE_HEADERS)
    await response.prepare(request)
    if spec.malformed:
        await response.write(b"data: {simulated malformed chunk, not JSON\n\n")
        return response

    def tail() -> bytes:
        # Usage comes last, in a frame of its own with an empty candidate list: only at the end.
        return b"data: " + msgspec.json.encode(encoder._response([], usage=True)) + b"\n\n"

    frames = [encoder.frame(e) for e in events]
    iterator = iter(frames)
    await core._stream(request, response, events, lambda _e: next(iterator), spec, tail=tail())
    return response


async def _embed(request: web.Request, model: str, method: str) -> web.StreamResponse:
    dialect = _dialect(request)
    try:
        body = json.loads(await request.read())
        if method == "predict":
            texts = [i["content"] for i in body["instances"]]
            dims = body.get("parameters", {}).get("outputDimensionality")
        elif method == "batchEmbedContents":
            texts = ["".join(p["text"] for p in r["content"]["parts"]) for r in body["requests"]]
            dims = body["requests"][0].get("outputDimensionality") if body["requests"] else None
        else:
            texts = ["".join(p["text"] for p in body["content"]["parts"])]
            dims = body.get("outputDimensionality")
    except (ValueError, KeyError, TypeError) as exc:
        return error_response(dialect, 400, f"Invalid JSON payload received: {exc}")  # type: ignore[arg-type]
    sim = _sim(request, model)
    if isinstance(sim, web.Response):
        return sim
    instead = await core._prelude(request, sim, sim.spec.ttft_ms, _fail_for(dialect))
    if instead is not None:
        return instead
    if sim.spec.malformed:
        return web.Response(body=core._MALFORMED_BODY, content_type="application/json")
    result = sim.embed(EmbeddingRequest(model=model, inputs=tuple(texts), dimensions=dims))
    vectors = [list(e.vector) if isinstance(e.vector, tuple) else [] for e in result.data]
    if method == "predict":
        per_input = max(1, result.usage.input_tokens // max(1, len(texts)))
        predictions = [
            {"embeddings": {"values": v, "statistics": {"token_count": per_input, "truncated": False}}}
            for v in vectors
        ]
        return web.json_response({"predictions": predictions})
    if method == "batchEmbedContents":
        return web.json_response({"embeddings": [{"values": v} for v in vectors]})
    return web.json_response({"embedding": {"values": vectors[0]}})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1beta/models/{call}", _generate)
    app.router.add_post(
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}", _generate
    )
