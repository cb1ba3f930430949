"""CPU that dialect translation adds per request: Anthropic-in and Responses-in against OpenAI-in.

Every inbound API shares the pipeline, the executor and the adapter; what differs is the edge's
translation — parsing the caller's JSON into a canonical request, and turning the answer's events
into the caller's frames (streaming) or body (not). This measures exactly that work, in process, for
the same request and the same upstream answer (a simulated answer of N text chunks, or a tool call),
and prints CPU per request for each dialect and the difference to OpenAI → OpenAI.

    python -m benchmarks.dialects                 # 20-chunk answers, 3 s per case
    python -m benchmarks.dialects --chunks 200    # per-chunk cost stays constant: compare the two runs

Target: Anthropic and Responses add at most 0.15 ms of CPU per request over OpenAI, streaming included.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from podium.canonical import ChatRequest, Event, Finish, ResponseStart, TextDelta, ToolCallDelta, Usage
from podium.collect import Collector
from podium.wire import anthropic_message_events, anthropic_messages, openai_response_events, openai_responses
from podium.wire import openai as openai_wire

TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SYSTEM = "You are a helpful assistant. Answer briefly and cite nothing."
QUESTION = "What is the weather like in Paris today, and should I take an umbrella?"


def bodies(stream: bool) -> dict[str, bytes]:
    """The same request in each dialect."""
    return {
        "openai": json.dumps(
            {
                "model": "m",
                "stream": stream,
                "max_tokens": 256,
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": TOOL["name"],
                            "description": TOOL["description"],
                            "parameters": TOOL["schema"],
                        },
                    }
                ],
            }
        ).encode(),
        "anthropic": json.dumps(
            {
                "model": "m",
                "stream": stream,
                "max_tokens": 256,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": QUESTION}],
                "tools": [
                    {"name": TOOL["name"], "description": TOOL["description"], "input_schema": TOOL["schema"]}
                ],
            }
        ).encode(),
        "responses": json.dumps(
            {
                "model": "m",
                "stream": stream,
                "max_output_tokens": 256,
                "instructions": SYSTEM,
                "input": QUESTION,
                "store": False,
                "tools": [
                    {
                        "type": "function",
                        "name": TOOL["name"],
                        "description": TOOL["description"],
                        "parameters": TOOL["schema"],
                        "strict": True,
                    }
                ],
            }
        ).encode(),
    }


def answer(chunks: int, tool: bool) -> list[Event]:
    events: list[Event] = [ResponseStart(id="chatcmpl-1", model="m", created=1)]
    if tool:
        events.append(ToolCallDelta(call_index=0, id="call_1", name="get_weather"))
        events.extend(ToolCallDelta(call_index=0, arguments=p) for p in ['{"ci', 'ty": "Pa', 'ris"}'])
        events.append(Finish(reason="tool_calls"))
    else:
        events.extend(TextDelta(text=f"word{i} ") for i in range(chunks))
        events.append(Finish(reason="stop"))
    events.append(Usage(input_tokens=60, output_tokens=chunks))
    return events


def openai_case(body: bytes, events: list[Event], stream: bool) -> None:
    chat, include_usage = openai_wire.parse_chat_request(body)
    collector = Collector()
    if stream:
        encoder = openai_wire.ChunkEncoder(model=chat.model, include_usage=include_usage)
        for e in events:
            collector.add(e)
            encoder.encode(e)
        return
    collector.add_all(events)
    openai_wire.encode_completion(collector.result(), model=chat.model)


def anthropic_case(body: bytes, events: list[Event], stream: bool) -> None:
    chat = anthropic_messages.parse_messages_request(body)
    collector = Collector()
    if stream:
        encoder = anthropic_message_events.MessageEncoder(model=chat.model, message_id="msg_1")
        for e in events:
            collector.add(e)
            encoder.encode(e)
        encoder.finish()
        return
    collector.add_all(events)
    anthropic_message_events.encode_message(collector.result(), model=chat.model, message_id="msg_1")


def responses_case(body: bytes, events: list[Event], stream: bool) -> None:
    parsed = openai_responses.parse_responses_request(body)
    chat: ChatRequest = parsed.chat_request(())
    head = openai_response_events.ResponseHead(parsed, response_id="resp_1", model=chat.model)
    collector = Collector()
    if stream:
        encoder = openai_response_events.ResponseEncoder(head)
        for e in events:
            collector.add(e)
            encoder.encode(e)
        encoder.finish()
        return
    collector.add_all(events)
    openai_response_events.encode_response(collector.result(), head)


CASES: dict[str, Callable[[bytes, list[Event], bool], None]] = {
    "openai": openai_case,
    "anthropic": anthropic_case,
    "responses": responses_case,
}


def cpu_per_call(fn: Callable[[], None], seconds: float) -> float:
    """Microseconds of process CPU per call, over at least ``seconds`` of work (after a warm-up)."""
    for _ in range(200):
        fn()
    calls = 0
    start = time.process_time()
    while True:
        for _ in range(200):
            fn()
        calls += 200
        spent = time.process_time() - start
        if spent >= seconds:
            return spent / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=20, help="text chunks in a streamed answer")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per case")
    args = parser.parse_args()
    print(f"CPU per request, µs (in-process edge translation; {args.chunks}-chunk answers)\n")
    print(f"{'case':28} {'openai':>9} {'anthropic':>10} {'responses':>10} {'+anthr.':>9} {'+resp.':>9}")
    worst = 0.0
    for label, stream, tool in (
        ("text, non-streaming", False, False),
        ("text, streaming", True, False),
        ("tool call, non-streaming", False, True),
        ("tool call, streaming", True, True),
    ):
        events = answer(args.chunks, tool)
        reqs = bodies(stream)
        us: dict[str, float] = {}
        for name, fn in CASES.items():
            body = reqs[name]

            def run(fn: Callable[[bytes, list[Event], bool], None] = fn, body: bytes = body) -> None:
                fn(body, events, stream)  # noqa: B023 - called only within this iteration

            us[name] = cpu_per_call(run, args.seconds)
        da, dr = us["anthropic"] - us["openai"], us["responses"] - us["openai"]
        worst = max(worst, da, dr)
        print(
            f"{label:28} {us['openai']:9.1f} {us['anthropic']:10.1f} {us['responses']:10.1f} {da:+9.1f} {dr:+9.1f}"
        )
    verdict = "within" if worst <= 150 else "OVER"
    print(f"\nlargest addition over OpenAI -> OpenAI: {worst:.1f} µs ({verdict} the 150 µs target)")


if __name__ == "__main__":
    main()
