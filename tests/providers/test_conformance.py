"""One conformance suite for every chat and embedding adapter, against the standalone simulator.

Each adapter is built from configuration exactly as the gateway builds it, and talks to
``podium simulate`` over a real socket in its own wire protocol: OpenAI, Azure OpenAI (key and Entra
token), Anthropic Messages, Gemini API, Vertex AI (service account → OAuth), Bedrock Converse
(SigV4, binary event stream). Every adapter must give the same canonical answers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.canonical import (
    ChatRequest,
    EmbeddingRequest,
    Event,
    Finish,
    ImagePart,
    JsonSchemaFormat,
    Message,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from podium.collect import Collector
from podium.config import load_config
from podium.config.model import Config
from podium.errors import (
    ProviderError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from podium.providers.http import ClientPool
from podium.providers.registry import Models, ProviderContext, build_models
from tests.providers.conftest import providers_yaml, write_config

CHAT = ["openai", "azure", "azure-entra", "anthropic", "gemini", "vertex", "bedrock"]
EMBEDDINGS = ["openai", "azure", "gemini", "vertex", "ollama", "bedrock-titan", "bedrock-cohere"]
# The status each API uses for "overloaded": Anthropic's 529, everyone else's 503.
OVERLOADED = {"anthropic": 529}
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = Tool(
    name="get_time",
    parameters={"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)


@pytest.fixture(scope="module")
def config(sim_url: str, service_account: Path, tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = write_config(
        tmp_path_factory.mktemp("conf") / "podium.yaml", providers_yaml(sim_url, service_account)
    )
    return load_config(path, environ={})


class Adapters:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.pool = ClientPool()
        self.ctx = ProviderContext(pool=self.pool, accounts={}, session_keys=set())

    def models(self, provider: str, model: str) -> Models:
        dep = self.config.deployments[f"{provider}/*"]
        p = self.config.providers[provider]
        return build_models(self.ctx, provider, p, f"{provider}/{model}", dep, model)


@pytest.fixture
async def adapters(config: Config) -> AsyncIterator[Adapters]:
    a = Adapters(config)
    try:
        yield a
    finally:
        await a.pool.close()


def user(text: str) -> Message:
    return Message(role="user", content=text)


async def run(adapters: Adapters, provider: str, model: str, request: ChatRequest) -> list[Event]:
    return [e async for e in adapters.models(provider, model).chat.stream(request)]


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finish_of(events: list[Event]) -> str:
    (finish,) = [e.reason for e in events if isinstance(e, Finish)]
    return finish


def usage_of(events: list[Event]) -> Usage:
    (usage,) = [e for e in events if isinstance(e, Usage)]
    return usage


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_plain_text(adapters: Adapters, provider: str, stream: bool) -> None:
    """A plain question is answered with its text, a stop finish and usage, streamed or not."""
    events = await run(
        adapters, provider, "echo", ChatRequest(model="m", messages=(user("hello there"),), stream=stream)
    )
    assert text_of(events) == "hello there"
    assert finish_of(events) == "stop"
    usage = usage_of(events)
    assert usage.input_tokens > 0 and usage.output_tokens > 0


@pytest.mark.parametrize("provider", CHAT)
async def test_multi_turn_and_system_prompt(adapters: Adapters, provider: str) -> None:
    """A system prompt and earlier turns translate; the answer follows the last user turn."""
    messages = (
        Message(role="system", content="You are terse."),
        user("first question"),
        Message(role="assistant", content="first answer"),
        user("second question"),
    )
    events = await run(adapters, provider, "echo", ChatRequest(model="m", messages=messages))
    assert text_of(events) == "second question"


@pytest.mark.parametrize("provider", CHAT)
async def test_streamed_deltas_and_final_usage(adapters: Adapters, provider: str) -> None:
    """A stream arrives in many text deltas that add up to the whole answer, with usage at the end."""
    request = ChatRequest(model="m", messages=(user("hi"),), stream=True)
    events = await run(adapters, provider, "lorem?words=12&cached_tokens=1", request)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 6
    whole = await run(adapters, provider, "lorem?words=12", ChatRequest(model="m", messages=(user("hi"),)))
    assert text_of(events) == text_of(whole)
    assert isinstance(events[-1], Usage) or isinstance(events[-2], Usage)
    assert usage_of(events).output_tokens == usage_of(whole).output_tokens > 0


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_tool_call_round_trip(adapters: Adapters, provider: str, stream: bool) -> None:
    """A tool call comes back with its arguments, and its result, sent back, is answered."""
    request = ChatRequest(model="m", messages=(user("Paris"),), tools=(WEATHER,), stream=stream)
    events = await run(adapters, provider, "echo", request)
    assert finish_of(events) == "tool_calls"
    collector = Collector()
    collector.add_all(events)
    (call,) = collector.result().choices[0].tool_calls
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    follow_up = ChatRequest(
        model="m",
        messages=(
            user("Paris"),
            Message(
                role="assistant", tool_calls=(ToolCall(id=call.id, name=call.name, arguments=call.arguments),)
            ),
            Message(role="tool", tool_call_id=call.id, content='{"celsius": 21}'),
        ),
        tools=(WEATHER,),
        stream=stream,
    )
    answer = await run(adapters, provider, "echo", follow_up)
    assert finish_of(answer) == "stop"
    assert "get_weather returned" in text_of(answer) and "21" in text_of(answer)


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_parallel_tool_calls(adapters: Adapters, provider: str, stream: bool) -> None:
    """Two tools called in one answer come back as two calls with distinct ids, both round-tripped."""
    request = ChatRequest(model="m", messages=(user("Oslo"),), tools=(WEATHER, TIME), stream=stream)
    events = await run(adapters, provider, "tools", request)
    collector = Collector()
    collector.add_all(events)
    calls = collector.result().choices[0].tool_calls
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    follow_up = ChatRequest(
        model="m",
        messages=(
            user("Oslo"),
            Message(role="assistant", tool_calls=calls),
            *(Message(role="tool", tool_call_id=c.id, content=f'{{"n": {i}}}') for i, c in enumerate(calls)),
        ),
        tools=(WEATHER, TIME),
    )
    answer = text_of(await run(adapters, provider, "echo", follow_up))
    assert "get_weather returned" in answer and "get_time returned" in answer


@pytest.mark.parametrize("provider", CHAT)
async def test_image_input(adapters: Adapters, provider: str) -> None:
    """An inline PNG next to text is accepted and the text answered."""
    content = (TextPart(text="what is this"), ImagePart(url=f"data:image/png;base64,{PIXEL}"))
    events = await run(
        adapters, provider, "echo", ChatRequest(model="m", messages=(Message(role="user", content=content),))
    )
    assert text_of(events) == "what is this"


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_json_schema_output(adapters: Adapters, provider: str, stream: bool) -> None:
    """A JSON-schema response format yields text that is JSON matching the schema, finishing with stop."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
    }
    request = ChatRequest(
        model="m",
        messages=(user("Lima"),),
        response_format=JsonSchemaFormat(name="weather", schema=schema),
        stream=stream,
    )
    events = await run(adapters, provider, "echo", request)
    answer = json.loads(text_of(events))
    assert isinstance(answer["city"], str) and isinstance(answer["celsius"], int | float)
    assert finish_of(events) == "stop"


@pytest.mark.parametrize("provider", CHAT)
async def test_stop_sequence(adapters: Adapters, provider: str) -> None:
    """A stop sequence ends the answer before it."""
    request = ChatRequest(model="m", messages=(user("alpha beta HALT gamma"),), stop=("HALT",))
    assert text_of(await run(adapters, provider, "echo", request)) == "alpha beta "


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_length_finish(adapters: Adapters, provider: str, stream: bool) -> None:
    """An answer cut by max_tokens finishes with reason length."""
    request = ChatRequest(model="m", messages=(user("hi"),), max_tokens=3, stream=stream)
    assert finish_of(await run(adapters, provider, "lorem?words=40", request)) == "length"


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize(
    ("knob", "status", "code", "retryable"),
    [
        ("status=400", 400, "upstream_rejected_request", False),
        ("status=401", 502, "upstream_authentication_error", False),
        ("status=404", 502, "upstream_not_found", False),
        ("status=429&retry_after=3", 429, "upstream_rate_limited", True),
        ("status=500", 502, "upstream_server_error", True),
        ("status=OVERLOADED", 503, "upstream_overloaded", True),
    ],
)
async def test_error_classes(
    adapters: Adapters, provider: str, knob: str, status: int, code: str, retryable: bool
) -> None:
    """Each upstream error status, in the provider's own error shape, maps to its class and retryability."""
    knob = knob.replace("OVERLOADED", str(OVERLOADED.get(provider, 503)))
    for stream in (False, True):
        with pytest.raises(UpstreamStatusError) as exc:
            await run(
                adapters,
                provider,
                f"echo?{knob}",
                ChatRequest(model="m", messages=(user("x"),), stream=stream),
            )
        assert (exc.value.status, exc.value.code, exc.value.retryable) == (status, code, retryable)
        assert "Simulated failure" in exc.value.message  # the upstream's own message, from its error shape
        if status == 429:
            assert exc.value.retry_after == 3


@pytest.mark.parametrize("provider", CHAT)
@pytest.mark.parametrize(
    ("knob", "stream", "error"),
    [
        ("malformed", False, UpstreamProtocolError),
        ("malformed", True, UpstreamProtocolError),
        ("disconnect_after=2", True, UpstreamConnectionError),
        ("disconnect_after=0", False, UpstreamConnectionError),
        ("hang", False, UpstreamTimeout),
    ],
)
async def test_transport_failures(
    adapters: Adapters, provider: str, knob: str, stream: bool, error: type[ProviderError]
) -> None:
    """A garbled answer, a cut stream and a silent upstream are each their own retryable error."""
    with pytest.raises(error) as exc:
        await run(
            adapters,
            provider,
            f"lorem?words=8&{knob}",
            ChatRequest(model="m", messages=(user("x"),), stream=stream),
        )
    assert exc.value.retryable


@pytest.mark.parametrize("provider", [p for p in CHAT if p != "vertex"])  # vertex: test_credentials.py
async def test_wrong_credential(
    config: Config, sim_url: str, service_account: Path, tmp_path: Path, provider: str
) -> None:
    """A credential the upstream refuses is an authentication error of the deployment, not retried."""
    path = write_config(tmp_path / "bad.yaml", providers_yaml(sim_url, service_account, secret="sk-wrong"))
    bad = Adapters(load_config(path, environ={}))
    try:
        with pytest.raises(ProviderError) as exc:
            await run(bad, provider, "echo", ChatRequest(model="m", messages=(user("x"),)))
    finally:
        await bad.pool.close()
    assert exc.value.code == "upstream_authentication_error" and not exc.value.retryable


def embedding_target(name: str) -> tuple[str, str]:
    if name == "bedrock-titan":
        return "bedrock", "amazon.titan-embed-text-v2:0"
    if name == "bedrock-cohere":
        return "bedrock", "cohere.embed-english-v3"
    return name, "embed"


@pytest.mark.parametrize("name", EMBEDDINGS)
async def test_embeddings(adapters: Adapters, name: str) -> None:
    """Every embedding adapter returns one vector per input, in order, similar texts closer."""
    provider, model = embedding_target(name)
    embeddings = adapters.models(provider, model).embeddings
    texts = ("a small cat", "a small kitten cat", "quarterly tax report")
    result = await embeddings.embed(EmbeddingRequest(model="m", inputs=texts))
    vectors = [list(e.vector) if isinstance(e.vector, tuple) else [] for e in result.data]
    if isinstance(result.data[0].vector, bytes):
        import array

        vectors = []
        for e in result.data:
            a = array.array("f")
            a.frombytes(e.vector)  # type: ignore[arg-type]
            vectors.append(a.tolist())
    assert len(vectors) == 3 and all(len(v) == len(vectors[0]) > 0 for v in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    assert result.usage.input_tokens > 0


@pytest.mark.parametrize("name", ["openai", "gemini", "vertex", "bedrock-titan"])
async def test_embedding_dimensions(adapters: Adapters, name: str) -> None:
    """The requested number of dimensions reaches the upstream in its own field."""
    provider, model = embedding_target(name)
    result = await adapters.models(provider, model).embeddings.embed(
        EmbeddingRequest(model="m", inputs=("x",), dimensions=16)
    )
    vector = result.data[0].vector
    assert (len(vector) // 4 if isinstance(vector, bytes) else len(vector)) == 16


@pytest.mark.parametrize("provider", ["gemini", "vertex", "bedrock"])
async def test_embedding_failure_classes(adapters: Adapters, provider: str) -> None:
    """An embedding call's upstream error is classified like a chat call's."""
    model = "amazon.titan-embed-text-v2:0?status=429" if provider == "bedrock" else "embed?status=429"
    with pytest.raises(UpstreamStatusError) as exc:
        await adapters.models(provider, model).embeddings.embed(EmbeddingRequest(model="m", inputs=("x",)))
    assert exc.value.code == "upstream_rate_limited" and exc.value.retryable
