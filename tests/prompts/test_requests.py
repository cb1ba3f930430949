"""Registry prompts used by reference from the OpenAI SDK, over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.prompts.helpers import call, summary_prompt


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    g = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def admin(gw: GatewayThread, method: str, path: str, body: object = None) -> tuple[int, object]:
    return call(gw.url, gw.admin_key, method, path, body)


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, timeout=20)


def publish(gw: GatewayThread, *markers: str, label: str = "production") -> None:
    """Create one version per marker (v1, v2, …) of prompt 'summary' and point ``label`` at the last."""
    for marker in markers:
        status, body = admin(gw, "POST", "/admin/prompts/summary/versions", summary_prompt(marker))
        assert status == 201, body
    status, body = admin(gw, "PUT", f"/admin/prompts/summary/labels/{label}", {"version": len(markers)})
    assert status == 200, body


def test_model_reference_renders_the_labelled_version(gw: GatewayThread) -> None:
    """`model: prompt:NAME@production` runs the labelled version's messages on its model; the record says which."""
    publish(gw, "first")
    with client(gw) as c:
        reply = c.chat.completions.create(
            model="prompt:summary@production",
            messages=[],
            extra_body={"podium": {"prompt": {"variables": {"text": "the lease"}}}},
        )
        assert reply.choices[0].message.content == "first: the lease"  # sim/echo echoes the last user message
        assert reply.model == "sim/echo"
        follow_up = c.chat.completions.create(
            model="prompt:summary",  # no label: production
            messages=[{"role": "user", "content": "and the deposit?"}],
            extra_body={"podium": {"prompt": {"variables": {"text": "x"}}}},
        )
        assert follow_up.choices[0].message.content == "and the deposit?"  # the caller's messages come after
    records = gw.wait_records(2)
    assert [(r.prompt_name, r.prompt_version, r.status) for r in records] == [
        ("summary", 1, 200),
        ("summary", 1, 200),
    ]
    assert records[0].input_tokens > 0


def test_extension_object_and_version_reference(gw: GatewayThread) -> None:
    """`podium.prompt` with a version and variables works with any model name, which then overrides the prompt's."""
    publish(gw, "first", "second")
    with client(gw) as c:
        pinned = c.chat.completions.create(
            model="prompt",
            messages=[],
            extra_body={"podium": {"prompt": {"name": "summary", "version": 1, "variables": {"text": "a"}}}},
        )
        assert pinned.choices[0].message.content == "first: a"
        by_version = c.chat.completions.create(
            model="prompt:summary@v2",
            messages=[],
            extra_body={"podium": {"prompt": {"variables": {"text": "b"}}}},
        )
        assert by_version.choices[0].message.content == "second: b"
        other_model = c.chat.completions.create(
            model="sim/json",
            messages=[],
            extra_body={
                "podium": {"prompt": {"name": "summary", "label": "production", "variables": {"text": "c"}}}
            },
        )
        assert other_model.model == "sim/json"
        assert other_model.choices[0].message.content == '{"echo": "second: c"}'
    records = gw.wait_records(3)
    assert [(r.prompt_version, r.requested_model) for r in records] == [
        (1, "sim/echo"),
        (2, "sim/echo"),
        (2, "sim/json"),
    ]


def test_prompt_settings_apply_unless_the_request_overrides_them(gw: GatewayThread) -> None:
    """The version's response_format and max_tokens apply when the request leaves them out, and yield to it."""
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    body = summary_prompt(
        "json",
        config={
            "model": "sim/json",
            "max_tokens": 300,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        },
    )
    assert admin(gw, "POST", "/admin/prompts/summary/versions", body)[0] == 201
    assert admin(gw, "PUT", "/admin/prompts/summary/labels/production", {"version": 1})[0] == 200
    with client(gw) as c:
        reply = c.chat.completions.create(
            model="prompt:summary",
            messages=[],
            extra_body={"podium": {"prompt": {"variables": {"text": "t"}}}},
        )
        assert list(json.loads(reply.choices[0].message.content or "{}")) == ["summary"]
        overridden = c.chat.completions.create(
            model="prompt:summary",
            messages=[],
            response_format={"type": "json_object"},
            extra_body={"podium": {"prompt": {"variables": {"text": "t"}}}},
        )
        assert "summary" not in (overridden.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("variables", "code", "param"),
    [
        ({}, "missing_variable", "podium.prompt.variables.text"),
        ({"text": "x", "tone": "dry"}, "unexpected_variable", "podium.prompt.variables.tone"),
        ({"text": 42}, "invalid_variable", "podium.prompt.variables.text"),
        ({"text": "x", "audience": ["a"]}, "invalid_variable", "podium.prompt.variables.audience"),
    ],
)
def test_bad_variables_are_400_naming_the_variable(
    gw: GatewayThread, variables: dict[str, object], code: str, param: str
) -> None:
    """A missing, unexpected or ill-typed variable is a 400 whose message and param name it."""
    publish(gw, "first")
    with client(gw) as c, pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(
            model="prompt:summary", messages=[], extra_body={"podium": {"prompt": {"variables": variables}}}
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["param"]) == (code, param)
    assert param.rsplit(".", 1)[1] in error["message"]
    (record,) = gw.wait_records(1)
    assert (record.status, record.prompt_name, record.prompt_version) == (400, "summary", 1)


def test_unknown_prompt_or_label_is_404(gw: GatewayThread) -> None:
    """A prompt, label or version that does not exist answers 404 prompt_not_found."""
    publish(gw, "first")
    with client(gw) as c:
        for model in ("prompt:nothing", "prompt:summary@staging", "prompt:summary@v9"):
            with pytest.raises(openai.NotFoundError) as caught:
                c.chat.completions.create(model=model, messages=[])
            assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "prompt_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            c.chat.completions.create(
                model="sim/echo", messages=[], extra_body={"podium": {"prompt": {"label": "production"}}}
            )
        assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "podium.prompt.name"


def test_key_must_be_allowed_the_prompts_model(gw: GatewayThread) -> None:
    """A key limited to some models may use a prompt only if the prompt's model is one of them."""
    publish(gw, "first")
    limited = gw.new_key(models=("sim/json",))
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key=limited, max_retries=0) as c,
        pytest.raises(openai.PermissionDeniedError),
    ):
        c.chat.completions.create(
            model="prompt:summary",
            messages=[],
            extra_body={"podium": {"prompt": {"variables": {"text": "x"}}}},
        )


def test_streaming_with_a_prompt(gw: GatewayThread) -> None:
    """A streamed request that references a prompt streams the rendered prompt's answer."""
    publish(gw, "first")
    with client(gw) as c:
        stream = c.chat.completions.create(
            model="prompt:summary",
            messages=[],
            stream=True,
            extra_body={"podium": {"prompt": {"variables": {"text": "streamed"}}}},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "first: streamed"


def test_weighted_split_is_about_70_30_and_sticky_per_user(gw: GatewayThread) -> None:
    """A 70/30 label split serves about 70/30 over 1,000 users, and each user keeps one version."""
    for marker in ("A", "B"):
        assert admin(gw, "POST", "/admin/prompts/summary/versions", summary_prompt(marker))[0] == 201
    status, body = admin(
        gw,
        "PUT",
        "/admin/prompts/summary/labels/production",
        {"split": [{"version": 1, "weight": 70}, {"version": 2, "weight": 30}]},
    )
    assert status == 200, body

    async def ask(c: openai.AsyncOpenAI, user: str) -> str:
        reply = await c.chat.completions.create(
            model="prompt:summary",
            messages=[],
            user=user,
            extra_body={"podium": {"prompt": {"variables": {"text": "t"}}}},
        )
        return (reply.choices[0].message.content or "")[0]

    async def run() -> tuple[Counter[str], list[tuple[str, str]]]:
        async with openai.AsyncOpenAI(
            base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, timeout=30
        ) as c:
            served: Counter[str] = Counter()
            first: list[str] = []
            for start in range(0, 1000, 100):
                batch = await asyncio.gather(*(ask(c, f"user-{i}") for i in range(start, start + 100)))
                first.extend(batch)
                served.update(batch)
            again = await asyncio.gather(*(ask(c, f"user-{i}") for i in range(0, 1000, 10)))
            return served, list(zip([first[i] for i in range(0, 1000, 10)], again, strict=True))

    served, repeats = asyncio.run(run())
    assert served["A"] + served["B"] == 1000
    assert 640 <= served["A"] <= 760, served  # 70% ± 6 points: ~4 standard deviations
    assert all(a == b for a, b in repeats)  # sticky: the same user got the same version again
    gw.records()  # flushes the request log
    status, metrics = admin(gw, "GET", "/admin/prompts/summary/metrics")
    assert status == 200
    assert isinstance(metrics, dict)
    counts = {m["version"]: m["requests"] for m in metrics["data"]}
    again = Counter(b for _, b in repeats)
    assert counts == {1: served["A"] + again["A"], 2: served["B"] + again["B"]}
