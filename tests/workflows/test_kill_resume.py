"""Durability proof: a ``podium serve`` process SIGKILLed in the middle of a step loses nothing — a new
process takes the run over once its lease expires and finishes it, and every step that had completed
reached the provider exactly once (counted by a standalone simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workflows.processes import ADMIN, Server, Simulator, api, poll

pytestmark = pytest.mark.slow

# Each step calls its own upstream model name, so the simulator counts calls per step.
FIRST, SLOW, LAST = "echo?seed=1", "echo?seed=2&latency_ms=2500", "echo?seed=3"

CONFIG = """
providers:
  upstream: {{type: openai-compatible, base_url: "{sim}", api_key: sk-test}}
deployments:
  first: {{provider: upstream, model: "{first}", capabilities: [chat, streaming, json_object, json_schema]}}
  slow: {{provider: upstream, model: "{slow}", capabilities: [chat, streaming, json_object, json_schema]}}
  last: {{provider: upstream, model: "{last}", capabilities: [chat, streaming, json_object, json_schema]}}
workflows:
  flows: ["{flows}"]
  poll_interval_ms: 50
  lease_seconds: 1
"""

FLOW = """
name: durable
inputs: {type: object, properties: {text: {type: string}}, required: [text]}
outputs: {first: one.text, second: two.word, third: three.text}
steps:
  - id: one
    kind: llm
    model: first
    messages: [{role: user, content: "one: {{ inputs.text }}"}]
  - id: two
    kind: llm
    model: slow
    messages: [{role: user, content: "two: {{ one.text }}"}]
    output_schema: {type: object, properties: {word: {type: string}}, required: [word]}
  - id: three
    kind: llm
    model: last
    messages: [{role: user, content: "three: {{ two.word }}"}]
"""


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    sim = Simulator(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()


def test_a_run_killed_mid_step_resumes_in_a_new_process_without_repeating_finished_steps(
    tmp_path: Path, simulator: Simulator
) -> None:
    """SIGKILL while step two waits on the model; a second process finishes the run; one and three ran once."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "durable.yaml").write_text(FLOW)
    config = CONFIG.format(sim=simulator.base_url, first=FIRST, slow=SLOW, last=LAST, flows=flows)
    env = {"PODIUM_ADMIN_KEY": ADMIN}

    first = Server(tmp_path, config, env=env)
    try:
        started = api(first, "POST", "/v1/flows/durable/runs", {"inputs": {"text": "hello"}})
        assert started.status == 202, started.body
        run_id = started.json()["id"]
        # Step two's model call has reached the provider (which answers after 2.5 s): kill now.
        poll(lambda: simulator.counts()[SLOW] == 1, timeout=15, what="step two's model call")
        first.proc.kill()
        first.proc.wait(10)
    finally:
        first.stop()
    assert simulator.counts() == {FIRST: 1, SLOW: 1}

    second = Server(tmp_path, config, env=env)  # same data directory: the same SQLite file
    try:
        run = poll(
            lambda: (r := api(second, "GET", f"/v1/runs/{run_id}").json())["status"] == "succeeded" and r,
            timeout=30,
            what="the run to finish in the second process",
        )
    finally:
        second.stop()

    # Completed steps ran once; only the step that was under way when the process died ran again.
    assert simulator.counts() == {FIRST: 1, SLOW: 2, LAST: 1}
    keys = [s["key"] for s in run["steps"]]
    assert keys == ["one", "two", "three"]
    assert all(s["status"] == "succeeded" for s in run["steps"])
    assert run["output"]["first"] == "one: hello"
    assert run["output"]["third"].startswith("three: ")
