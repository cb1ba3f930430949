"""The output stage on event streams: redaction before release, restoration, whatever the chunking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from podium.canonical import ChatRequest, Event, Finish, Message, ResponseStart, TextDelta, ToolCallDelta
from podium.config.model import Config
from podium.errors import GuardrailBlocked
from podium.guardrails.step import build_policy
from podium.guardrails.stream import OutputGuard
from podium.storage.records import GuardrailVerdict

REQUEST = ChatRequest(model="m", messages=(Message(role="user", content="hi"),), stream=True)


def policy(output: list[dict[str, Any]]) -> Any:
    config = msgspec.convert({"guardrails": {"policies": {"p": {"output": output}}}}, Config)
    return build_policy(config, "p")


async def events(text: str, size: int, *, tool_args: str = "") -> AsyncIterator[Event]:
    for i in range(0, len(text), size):
        yield TextDelta(text=text[i : i + size])
    if tool_args:
        for i in range(0, len(tool_args), size):
            yield ToolCallDelta(call_index=0, arguments=tool_args[i : i + size], id="c" if i == 0 else None)
    yield Finish(reason="stop")


async def run(guard: OutputGuard, text: str, size: int, **kw: Any) -> tuple[str, str, int]:
    first = ResponseStart(id="r", model="m", created=0)
    out, args, pieces = [], [], 0
    async for event in guard.stream(first, events(text, size, **kw)):
        if isinstance(event, TextDelta):
            out.append(event.text)
            pieces += 1
        elif isinstance(event, ToolCallDelta):
            args.append(event.arguments)
    return "".join(out), "".join(args), pieces


@pytest.mark.parametrize("size", [1, 3, 7, 50])
async def test_streamed_secret_is_redacted_however_split(size: int) -> None:
    """A secret or email split across any chunk boundaries never leaves unredacted."""
    verdicts: list[tuple[GuardrailVerdict, ...]] = []
    guard = OutputGuard(
        policy([{"type": "pii", "entities": ["EMAIL", "SECRET"], "action": "redact"}]),
        REQUEST,
        {},
        verdicts.append,
    )
    text = "word " * 40 + "mail jane.doe@example.com key AKIAIOSFODNN7EXAMPLE " + "tail " * 40
    released, _, pieces = await run(guard, text, size)
    assert released == text.replace("jane.doe@example.com", "<EMAIL>").replace(
        "AKIAIOSFODNN7EXAMPLE", "<SECRET>"
    )
    assert pieces > 1
    ((verdict,),) = verdicts
    assert verdict.count == 2 and verdict.kinds == ("EMAIL", "SECRET")


@pytest.mark.parametrize("size", [1, 2, 5])
async def test_placeholders_restored_in_text_and_tool_arguments(size: int) -> None:
    """Without output scanners only restoration runs: text and tool arguments get the originals back."""
    mapping = {"<EMAIL_1>": "jane@example.com", "<PHONE_1>": "+44 20 7946 0958"}
    guard = OutputGuard(policy([]), REQUEST, mapping, lambda v: None)
    text = "Write to <EMAIL_1> or call <PHONE_1>. Done <3"
    released, args, _ = await run(guard, text, size, tool_args='{"to": "<EMAIL_1>"}')
    assert released == "Write to jane@example.com or call +44 20 7946 0958. Done <3"
    assert args == '{"to": "jane@example.com"}'


async def test_block_ends_the_stream_before_the_text() -> None:
    """A denied word raises before any text containing it is released."""
    guard = OutputGuard(policy([{"type": "regex", "deny": ["classified"]}]), REQUEST, {}, lambda v: None)
    released: list[str] = []
    with pytest.raises(GuardrailBlocked) as exc:
        first = ResponseStart(id="r", model="m", created=0)
        async for event in guard.stream(first, events("fine " * 50 + "classified " + "fine " * 50, 4)):
            if isinstance(event, TextDelta):
                released.append(event.text)  # noqa: PERF401 - must keep what came before the error
    assert exc.value.status == 422 and exc.value.kinds == ("DENIED_TERM",)
    assert "classified" not in "".join(released)


async def test_whole_answer_is_scanned_once_and_restored() -> None:
    """A whole answer is redacted and restored in one delta per choice; other events keep their order."""
    mapping = {"<EMAIL_1>": "jane@example.com"}
    guard = OutputGuard(
        policy([{"type": "pii", "entities": ["SECRET"], "action": "redact"}]),
        REQUEST,
        mapping,
        lambda v: None,
    )
    answer: list[Event] = [
        ResponseStart(id="r", model="m", created=0),
        TextDelta(text="to <EMAIL_1>, key "),
        TextDelta(text="AKIAIOSFODNN7EXAMPLE"),
        Finish(reason="stop"),
    ]
    judged = await guard.whole(answer, None)
    assert [type(e).__name__ for e in judged] == ["ResponseStart", "TextDelta", "Finish"]
    assert isinstance(judged[1], TextDelta) and judged[1].text == "to jane@example.com, key <SECRET>"
