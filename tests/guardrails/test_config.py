"""The guardrails section: the documented examples load, and each mistake is named with its path."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from podium.config import parse_config
from podium.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "guardrails.md"
BASE = """
providers:
  sim: {type: simulated}
  mod: {type: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
deployments:
  "sim/*": {provider: sim, model: "*"}
routes:
  support: {deployments: [sim/echo]}
"""


def doc_examples() -> list[str]:
    return [
        b
        for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
        if "guardrails:" in b
    ]


@pytest.mark.parametrize("example", doc_examples())
def test_documented_examples_load(example: str) -> None:
    """Every YAML example in docs/guardrails.md is a configuration podium accepts."""
    text = example if "providers:" in example else BASE + example
    config = parse_config(text, environ={"OPENAI_API_KEY": "sk-test"})
    assert config.guardrails.policies


def problems(guardrails: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + guardrails, environ={})
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "guardrails: {policies: {p: {input: [{type: injection, action: redact}]}}}",
            "guardrails.policies.p.input[0].action: a 'injection' scanner on input can block, flag, not 'redact'",
        ),
        (
            "guardrails: {policies: {p: {output: [{type: pii, action: pseudonymize}]}}}",
            "guardrails.policies.p.output[0].action: a 'pii' scanner on output can block, redact, flag, not 'pseudonymize'",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: json_schema}]}}}",
            "guardrails.policies.p.input[0]: a 'json_schema' scanner checks the model's answer: put it under output",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: pii, entities: [EMAIL, CARD]}]}}}",
            "guardrails.policies.p.input[0].entities[1]: unknown entity 'CARD'",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: pii, phone_regions: [XX]}]}}}",
            "guardrails.policies.p.input[0].phone_regions[0]: 'XX' is not a country code",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: regex, patterns: {bad: '(oops'}}]}}}",
            "guardrails.policies.p.input[0].patterns.bad: not a regular expression",
        ),
        (
            "guardrails: {policies: {p: {output: [{type: json_schema, schema: {type: 12}}]}}}",
            "guardrails.policies.p.output[0].schema: not a valid JSON Schema",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: injection, threshold: 2}]}}}",
            "guardrails.policies.p.input[0].threshold: must be between 0 and 1, got 2",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: pii, on_error: ajar, timeout_ms: 0}]}}}",
            "guardrails.policies.p.input[0].on_error: 'ajar' is not one of: open, closed",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: provider_moderation, provider: nope}]}}}",
            "guardrails.policies.p.input[0].provider: unknown provider 'nope'",
        ),
        (
            "guardrails: {policies: {p: {input: [{type: provider_moderation, provider: sim}]}}}",
            "guardrails.policies.p.input[0].provider: provider 'sim' (simulated) has no OpenAI-style /moderations endpoint",
        ),
        (
            "guardrails: {default: standrd, policies: {standard: {}}}",
            "guardrails.default: unknown policy 'standrd' (did you mean 'standard'?)",
        ),
        (
            "guardrails: {routes: {nowhere: p}, policies: {p: {}}}",
            "guardrails.routes.nowhere: 'nowhere' is neither a route nor a deployment",
        ),
        (
            "guardrails: {policies: {a: {extends: [b]}, b: {extends: [a]}}}",
            "guardrails.policies.a.extends: 'a' extends itself through 'b'",
        ),
    ],
)
def test_problems_are_named(section: str, expected: str) -> None:
    """Each mistake in the guardrails section is reported at its path, in words that say what to do."""
    found = problems(section)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_at_once() -> None:
    """Several mistakes in one policy are all reported, not only the first."""
    found = problems(
        "guardrails: {policies: {p: {input: [{type: injection, action: redact, threshold: 3}, {type: max_length, limit: 0}]}}}"
    )
    assert len(found) == 3


def test_check_cli_reports_guardrail_problems(tmp_path: Path) -> None:
    """`podium check` prints the guardrail problems and exits non-zero."""
    path = tmp_path / "podium.yaml"
    path.write_text(BASE + "guardrails: {default: ghost, policies: {real: {}}}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "podium", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "guardrails.default: unknown policy 'ghost'" in result.stdout + result.stderr
