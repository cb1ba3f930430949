"""CPU cost of dialect translation per request, against OpenAI → OpenAI.

In process, no sockets: for each provider, one request is encoded from the canonical form into the
provider's wire body, and one streamed answer of ``--chunks`` text pieces (as the simulator frames it
in that provider's protocol: SSE JSON, or Bedrock's binary event stream) is parsed and decoded back
into canonical events — exactly the work an adapter adds on top of the network. The OpenAI codec
doing the same work is the baseline; the figure is the difference, per request and per chunk.

    python -m benchmarks.translation [--chunks 50] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from podium.canonical import ChatRequest, Event, Message, Tool, ToolCall
from podium.providers.sse import SSEParser
from podium.simulator.bedrock_api import _Encoder as BedrockEncoder
from podium.simulator.behaviour import Simulation
from podium.simulator.gemini_api import _Encoder as GeminiEncoder
from podium.simulator.spec import parse_spec
from podium.wire import anthropic, bedrock, gemini
from podium.wire import openai as openai_wire
from podium.wire.anthropic_message_events import MessageEncoder
from podium.wire.eventstream import EventStreamDecoder

REQUEST = ChatRequest(
    model="m",
    stream=True,
    messages=(
        Message(role="system", content="You are a helpful assistant that answers briefly."),
        Message(role="user", content="What is the weather in Paris and in Oslo today?"),
        Message(
            role="assistant",
            tool_calls=(ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),),
        ),
        Message(role="tool", tool_call_id="call_1", content='{"celsius": 21, "sky": "clear"}'),
        Message(role="user", content="And tell me a short story about it."),
    ),
    tools=(
        Tool(
            name="get_weather",
            description="The weather in a city.",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
    ),
    max_tokens=512,
    temperature=0.3,
)


def _answer(chunks: int) -> list[Event]:
    events = Simulation(parse_spec(f"lorem?words={chunks}")).chat(REQUEST)
    return events


def _sse(frames: list[bytes | None], tail: bytes = b"") -> bytes:
    return b"".join(f for f in frames if f) + tail


def payloads(chunks: int) -> dict[str, tuple[Callable[[], object], bytes]]:
    """Per provider: the request encoder to run, and the streamed answer's bytes to decode."""
    events = _answer(chunks)
    oa = openai_wire.ChunkEncoder(model="m", include_usage=True)
    openai_bytes = _sse([oa.encode(e) for e in events], b"data: [DONE]\n\n")
    an = MessageEncoder(model="m", message_id="msg_1")
    anthropic_bytes = _sse([an.encode(e) for e in events], an.finish())
    ge = GeminiEncoder("m")
    gemini_bytes = _sse([ge.frame(e) for e in events])
    be = BedrockEncoder(None)
    bedrock_bytes = _sse([be.encode(e) for e in events], be.tail())
    return {
        "openai": (lambda: openai_wire.encode_chat_request(REQUEST, model="m", stream=True), openai_bytes),
        "anthropic": (
            lambda: anthropic.encode_request(REQUEST, model="m", max_tokens=1024, stream=True),
            anthropic_bytes,
        ),
        "gemini": (lambda: gemini.encode_request(REQUEST), gemini_bytes),
        "bedrock": (lambda: bedrock.encode_request(REQUEST), bedrock_bytes),
    }


def _decode(provider: str, data: bytes) -> int:
    """Parse and decode one streamed answer, fed in network-sized pieces; returns the event count."""
    n = 0
    pieces = [data[i : i + 1400] for i in range(0, len(data), 1400)]
    if provider == "bedrock":
        frames = EventStreamDecoder()
        decoder = bedrock.StreamDecoder(model="m", request_id="r")
        for piece in pieces:
            for message in frames.feed(piece):
                n += len(decoder.feed(message))
        return n
    parser = SSEParser()
    feed: Callable[[bytes], list[Event]]
    if provider == "openai":
        feed = openai_wire.ChunkDecoder("d").feed
    elif provider == "anthropic":
        feed = anthropic.StreamDecoder("d").feed
    else:
        feed = gemini.StreamDecoder("d").feed
    for piece in pieces:
        for _, frame in parser.feed(piece):
            if frame != b"[DONE]":
                n += len(feed(frame))
    return n


def measure(chunks: int, rounds: int) -> dict[str, float]:
    """CPU milliseconds per request (encode + stream decode) for each provider."""
    out: dict[str, float] = {}
    for provider, (encode, data) in payloads(chunks).items():
        for _ in range(rounds // 10):  # warm up
            encode()
            _decode(provider, data)
        t0 = time.process_time()
        for _ in range(rounds):
            encode()
            _decode(provider, data)
        out[provider] = (time.process_time() - t0) / rounds * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=50, help="text pieces in the streamed answer")
    parser.add_argument("--rounds", type=int, default=2000, help="requests measured per provider")
    args = parser.parse_args()
    short = measure(1, args.rounds)
    long = measure(args.chunks, args.rounds)
    print(
        f"translation CPU per request: encode + decode of a {args.chunks}-chunk stream (and of a 1-chunk one)"
    )
    print(
        f"{'provider':<10} {'ms/request':>11} {'vs openai':>10} {'1-chunk vs openai':>18} {'µs/chunk vs openai':>19}"
    )
    for provider, ms in long.items():
        extra = ms - long["openai"]
        extra_short = short[provider] - short["openai"]
        per_chunk = (extra - extra_short) / max(1, args.chunks - 1) * 1000
        print(f"{provider:<10} {ms:>11.4f} {extra:>+10.4f} {extra_short:>+18.4f} {per_chunk:>+19.2f}")


if __name__ == "__main__":
    main()
