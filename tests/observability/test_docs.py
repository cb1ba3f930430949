"""The configuration examples in docs/observability.md are accepted by the loader `podium check` runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podium.config import parse_config
from podium.errors import ConfigError

ROOT = Path(__file__).parents[2]
BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "observability.md").read_text(), re.DOTALL)


def test_the_page_has_examples() -> None:
    """The observability page shows configuration examples for every section."""
    assert len(BLOCKS) >= 5
    text = "".join(BLOCKS)
    assert all(section in text for section in ("observability:", "evaluation:", "alerting:"))


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_yaml_block_is_a_valid_config(block: str) -> None:
    """Each YAML block of docs/observability.md is a complete configuration without problems."""
    parse_config(block, environ={})


def test_mistakes_are_reported_with_their_paths() -> None:
    """Bad observability settings are each reported with the path podium check prints."""
    text = """
providers: {sim: {type: simulated}}
deployments: {sim/*: {provider: sim, model: "*"}}
observability: {tracing: {sample_ratio: 2, otlp_endpoint: "collector:4318"}}
evaluation:
  sample_rate: -1
  evaluators:
    j: {type: judge}
    r: {type: regex, pattern: "("}
    s: {type: length}
alerting:
  channels: {mail: {type: email}}
  rules:
    a: {metric: error_rate, window: soon, channels: [nope]}
    b: {metric: cost_usd, above: 1, anomaly: {alpha: 0}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={})
    paths = {p.path for p in caught.value.problems}
    assert {
        "observability.tracing.sample_ratio",
        "observability.tracing.otlp_endpoint",
        "evaluation.sample_rate",
        "evaluation.evaluators.j.rubric",
        "evaluation.evaluators.j.route",
        "evaluation.evaluators.r.pattern",
        "evaluation.evaluators.s",
        "alerting.channels.mail.smtp_host",
        "alerting.channels.mail.to",
        "alerting.rules.a.window",
        "alerting.rules.a",
        "alerting.rules.a.channels[0]",
        "alerting.rules.b.anomaly",
        "alerting.rules.b.anomaly.alpha",
    } <= paths
