"""Call Podium with the official OpenAI SDK: chat, streaming, a tool call, structured output, embeddings.

    make run                                  # in one terminal; note the key it prints
    PODIUM_API_KEY=pk-... python examples/quickstart.py

Every call uses the built-in simulated provider (``sim/...``), so this costs nothing and needs no
provider key. Swap the model names for ``openai/gpt-4o-mini`` (with OPENAI_API_KEY set on the server)
and nothing else changes.
"""

from __future__ import annotations

import json
import os

from openai import OpenAI
from pydantic import BaseModel

client = OpenAI(
    base_url=os.environ.get("PODIUM_URL", "http://127.0.0.1:8400") + "/v1",
    api_key=os.environ["PODIUM_API_KEY"],
)

# 1. A plain chat completion; sim/echo answers with your last message.
raw = client.chat.completions.with_raw_response.create(
    model="sim/echo", messages=[{"role": "user", "content": "Hello, Podium!"}]
)
reply = raw.parse()
print("chat:", reply.choices[0].message.content, "| usage:", reply.usage)
print("  request id:", raw.headers["x-request-id"], "| Podium overhead:", raw.headers["x-podium-overhead-ms"], "ms")

# 2. Streaming, with the usage chunk at the end.
stream = client.chat.completions.create(
    model="sim/lorem?words=12",
    messages=[{"role": "user", "content": "Tell me something."}],
    stream=True,
    stream_options={"include_usage": True},
)
print("stream:", end=" ")
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
    if chunk.usage:
        print(f"\n  usage: {chunk.usage.prompt_tokens} in / {chunk.usage.completion_tokens} out")

# 3. A tool call: the simulator calls the tool with arguments that fit its JSON schema.
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
call = client.chat.completions.create(
    model="sim/echo", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=tools
).choices[0].message.tool_calls[0]
print("tool call:", call.function.name, json.loads(call.function.arguments))


# 4. Structured output parsed into a Pydantic model.
class Ticket(BaseModel):
    title: str
    priority: int
    tags: list[str]


ticket = client.chat.completions.parse(
    model="sim/echo", messages=[{"role": "user", "content": "File a ticket"}], response_format=Ticket
).choices[0].message.parsed
print("parsed:", ticket)

# 5. Embeddings.
vectors = client.embeddings.create(model="sim/embed", input=["contract renewal", "renewing the contract"])
print("embeddings:", len(vectors.data), "vectors of", len(vectors.data[0].embedding), "dimensions")
