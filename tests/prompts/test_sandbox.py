"""Templates run in a sandbox: escapes are refused when a version is created, or when it renders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.errors import RequestError
from podium.prompts.template import RenderLimits, compile_prompt
from podium.storage.prompt_records import PromptSpec, VariableSpec
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.prompts.helpers import call

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__['os'] }}",
    "{% include '/etc/passwd' %}",
    "{% import '/etc/passwd' as p %}",
    "{% extends 'base.html' %}",
    "{{ text['__class__'] }}",
    "{{ text|attr('__class__') }}",
    "{{ lipsum.__globals__ }}",
    "{{ self }}",
    "{{ config }}",
    "{{ text|center(10) }}",
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    tmp: Path = tmp_path_factory.mktemp("sandbox")
    g = GatewayThread(make_config(), sqlite_url(tmp)).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_are_refused_when_the_version_is_created(gw: GatewayThread, template: str) -> None:
    """A template reaching Python internals, files, undeclared globals or unknown filters is a 400; nothing is stored."""
    body = {"name": "escape", "template": template, "variables": {"text": {"default": "x"}}}
    status, answer = call(gw.url, gw.admin_key, "POST", "/admin/prompts", body)
    assert status == 400, answer
    assert isinstance(answer, dict)
    assert answer["error"]["code"] in ("template_unsafe", "undeclared_variable", "invalid_template")
    assert call(gw.url, gw.admin_key, "GET", "/admin/prompts/escape")[0] == 404


def render(template: str, limits: RenderLimits | None = None, **given: object) -> str:
    variables = {
        name: VariableSpec(type="object" if isinstance(v, dict) else "string") for name, v in given.items()
    }
    prompt = compile_prompt(PromptSpec(template=template, variables=variables), limits)
    (message,) = prompt.render(given)
    content = message.content
    assert isinstance(content, str)
    return content


@pytest.mark.parametrize(
    ("template", "code"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "template_too_costly",
        ),
        ("{% for i in range(90000) %}{{ text }}{{ text }}{% endfor %}", "template_too_large"),
        ("{{ 'x' * 1000000000 }}", "template_too_large"),
        ("{{ [1] * 1000000000 }}", "template_too_large"),
        ("{{ 9 ** 99999999 }}", "template_unsafe"),
        ("{{ '%1000000000s' % text }}", "template_unsafe"),
        ("{{ text.ljust(1000000000) }}", "template_unsafe"),
        ("{{ text.format(1) }}", "template_unsafe"),
        ("{{ text|indent(1000000000) }}", "template_unsafe"),
        ("{% macro f(n) %}{{ f(n) ~ f(n) }}{% endmacro %}{{ f(1) }}", "template_too_costly"),
        (
            "{% set s = namespace(t=text) %}{% for i in range(40) %}{% set s.t = s.t ~ s.t %}{% endfor %}{{ s.t }}",
            "template_too_large",
        ),
        ("{{ text.__len__() }}", "template_unsafe"),
    ],
)
def test_runaway_templates_stop_with_a_400(template: str, code: str) -> None:
    """Huge output, endless loops, giant strings and numbers, padding tricks and deep recursion all stop early."""
    with pytest.raises(RequestError) as caught:
        render(template, RenderLimits(max_output_chars=100_000, max_steps=50_000), text="0123456789")
    assert caught.value.code == code
    assert caught.value.status == 400


def test_object_internals_are_unreachable_at_render_time() -> None:
    """Even through a variable's value, the sandbox refuses attributes that lead to Python internals."""
    with pytest.raises(RequestError) as caught:
        render("{{ data.items.__self__ }}", data={"a": 1})
    assert caught.value.code == "template_unsafe"
    with pytest.raises(RequestError) as missing:
        render("{{ data.nothing }}", data={"a": 1})
    assert missing.value.code == "template_error"  # strict: an undefined attribute is an error, not ''


def test_ordinary_templates_render() -> None:
    """Loops, conditions, filters and object variables render as Jinja2 does."""
    template = "{% for k, v in data|dictsort %}{{ loop.index }}. {{ k|upper }}={{ v }}\n{% endfor %}{{ text|truncate(5) }}"
    assert render(template, data={"b": 2, "a": 1}, text="hello world") == "1. A=1\n2. B=2\nhe..."


@pytest.mark.parametrize(
    "template",
    [
        "{% set s = namespace(t=text) %}{% for i in range(40) %}{% set s.t = s.t + s.t %}{% endfor %}{{ s.t }}",
        "{% set s = namespace(t=[text]) %}{% for i in range(40) %}{% set s.t = s.t + s.t %}{% endfor %}{{ s.t|length }}",
        "{% set big = text * 10000 %}{{ big|replace('0', big) }}",
        "{% set big = text * 10000 %}{{ big.replace('0', big) }}",
        "{% set big = text * 10000 %}{{ big.join([big, big, big, big, big, big, big, big, big, big, big, big]) }}",
        "{% set big = text * 10000 %}{{ [big, big, big, big, big, big, big, big, big, big, big]|join(big) }}",
        "{{ text.translate({48: text * 10000}) }}",
    ],
)
def test_amplifiers_are_bounded_before_they_allocate(template: str) -> None:
    """Doubling by + or ~, replace, join and translate cannot build a string past the output limit."""
    with pytest.raises(RequestError) as caught:
        render(template, RenderLimits(max_output_chars=100_000, max_steps=50_000), text="0123456789")
    assert caught.value.code in ("template_too_large", "template_unsafe")
