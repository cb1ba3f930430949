"""`podium check` refuses routing mistakes with their paths; `podium route calibrate` fits a usable model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from podium.config import parse_config
from podium.errors import ConfigError

BASE = """
providers:
  sim: {type: simulated}
  us: {type: simulated, region: us-east-1}
deployments:
  a: {provider: sim, model: echo, quality: 2}
  b: {provider: sim, model: echo, quality: 3}
  u: {provider: us, model: echo}
"""


def problems(routes: str, extra: str = "") -> list[str]:
    try:
        parse_config(BASE + extra + routes, environ={})
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_self_reference_and_unknown_deployments_are_refused() -> None:
    """A route naming itself or an unknown deployment anywhere (lists, rules, designated) is a problem with its path."""
    found = problems(
        """
routes:
  auto:
    deployments: [a, auto]
    fallbacks: [nope]
    rules:
      - when: {task: [code]}
        use: [b, auto]
      - when: {task: [math]}
        use: [c]
    on_content_policy: [zzz]
"""
    )
    assert (
        "routes.auto.deployments[1]: route 'auto' refers to itself; a route lists deployments, not other routes"
        in found
    )
    assert "routes.auto.fallbacks[0]: unknown deployment 'nope'" in found
    assert (
        "routes.auto.rules[0].use[0]: 'b' is not one of this route's deployments or fallbacks; add it to `deployments`"
        in found
    )
    assert "routes.auto.rules[0].use[1]: route 'auto' refers to itself" in found
    assert "routes.auto.rules[1].use[0]: unknown deployment 'c'" in found
    assert "routes.auto.on_content_policy[0]: unknown deployment 'zzz'" in found


def test_deployment_fallbacks_are_checked() -> None:
    """A deployment's fallbacks may not name itself, a route, or an unknown deployment."""
    found = problems(
        "routes:\n  r: {deployments: [a]}\n",
        extra="  d: {provider: sim, model: echo, fallbacks: [d, r, x]}\n",
    )
    assert "deployments.d.fallbacks[0]: deployment 'd' refers to itself" in found
    assert "deployments.d.fallbacks[1]: 'r' is a route; name deployments here" in found
    assert "deployments.d.fallbacks[2]: unknown deployment 'x'" in found


def test_impossible_constraints_are_refused() -> None:
    """A min_quality no candidate meets, a region no candidate is in, and bad bounds are problems."""
    found = problems(
        """
routes:
  r:
    deployments: [a, b]
    min_quality: 4
    regions: [eu]
    timeout_ms: 100
    first_token_timeout_ms: 200
    rules:
      - when: {complexity: {min: 0.8, max: 0.2}}
        use: [a]
"""
    )
    assert any(p.startswith("routes.r.min_quality: no deployment of this route has quality 4") for p in found)
    assert any(p.startswith("routes.r.regions: no deployment of this route is in eu") for p in found)
    assert "routes.r.first_token_timeout_ms: 200 exceeds timeout_ms (100)" in found
    assert "routes.r.rules[0].when.complexity: min (0.8) exceeds max (0.2)" in found


def test_bad_routing_settings_are_refused(tmp_path: Path) -> None:
    """Unknown strategies and task types, bad breaker numbers and a missing classifier file are problems."""
    found = problems(
        "routes:\n  r: {deployments: [a], strategy: fastest, rules: [{when: {task: [poetry]}, use: [a]}]}\n",
        extra=f"routing:\n  classifier: {tmp_path / 'missing.json'}\n  breaker: {{error_rate: 2, open_seconds: 0}}\n",
    )
    text = "\n".join(found)
    assert "routes.r.strategy: 'fastest' is not one of: ordered" in text
    assert "routes.r.rules[0].when.task[0]: 'poetry' is not one of" in text or "routes.r.rules" in text
    assert "routing.classifier: cannot read classifier file" in text
    assert "routing.breaker.error_rate: must be in (0, 1], got 2" in text
    assert "routing.breaker.open_seconds: must be positive, got 0" in text


def test_calibrate_writes_a_model_the_config_accepts(tmp_path: Path) -> None:
    """`podium route calibrate` reports held-out accuracy and writes a file that routing.classifier can use."""
    examples = tmp_path / "examples.jsonl"
    rows = []
    for i in range(12):
        rows.append(
            {"text": f"please refund order {i}, it arrived broken", "task": "extraction", "complexity": 0.1}
        )
        rows.append(
            {"text": f"write a haiku number {i} about the sea", "task": "creative_writing", "complexity": 0.3}
        )
    examples.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "calibration.json"
    done = subprocess.run(
        [sys.executable, "-m", "podium", "route", "calibrate", str(examples), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy 100.0% on 6 held-out examples" in done.stdout
    parse_config(BASE + f"routing:\n  classifier: {out}\nroutes:\n  r: {{deployments: [a]}}\n", environ={})
    done = subprocess.run(
        [sys.executable, "-m", "podium", "route", "classify", "a haiku about rain", "--classifier", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["task"] == "creative_writing"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x", "task": "poetry"}', "task 'poetry' is not one of"),
        ('{"text": "x", "task": "code", "complexity": 3}', "complexity must be a number from 0 to 1"),
        ("not json", "not JSON"),
    ],
)
def test_calibrate_refuses_bad_examples(tmp_path: Path, line: str, message: str) -> None:
    """A bad example is reported with its file and line, and nothing is written."""
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"text": "fine", "task": "code"}\n' + line + "\n")
    out = tmp_path / "calibration.json"
    done = subprocess.run(
        [sys.executable, "-m", "podium", "route", "calibrate", str(examples), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and f"{examples}:2: " in done.stderr and message in done.stderr
    assert not out.exists()


def test_shipped_classifier_meets_its_published_accuracy() -> None:
    """The shipped model's held-out accuracy (recorded when it was fitted) is the one docs/routing.md publishes."""
    from podium.routing.classifier import default_classifier

    meta = default_classifier().meta
    docs = (Path(__file__).parents[2] / "docs" / "routing.md").read_text()
    assert meta["holdout_accuracy"] >= 0.75
    assert f"{meta['holdout_accuracy']:.1%}" in docs
