"""Workflow steps use the gateway's governed machinery: prompts, knowledge bases with access rights,
guardrail policies, HTTP tools, review deadlines and escalation — on a real server (GatewayThread)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from podium.identity.principal import Principal
from podium.keys import create_key
from podium.storage.workflow_records import ReviewQuery, RunRecord, StepRecord
from podium.workflows import parse_flow
from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient
from tests.prompts.helpers import summary_prompt


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    config = make_config(
        {
            "knowledge": {"embedding_model": "sim/embed"},
            "guardrails": {
                "policies": {
                    "no-secrets": {"output": [{"type": "regex", "deny": ["classified"], "action": "block"}]}
                }
            },
            "workflows": {"poll_interval_ms": 20, "lease_seconds": 2},
        }
    )
    gateway = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _principal(gw: GatewayThread, roles: tuple[str, ...], permissions: frozenset[str]) -> Principal:
    async def make() -> str:
        _, record = await create_key(gw.storage, name="flows", roles=roles)
        gw.gateway.keys.add(record)
        return str(record.id)

    key_id = gw.run(make)
    return Principal(
        kind="key", id=key_id, name="flows", tenant="default", roles=roles, permissions=permissions
    )


def _register(gw: GatewayThread, text: str) -> None:
    flow, problems = parse_flow(yaml.safe_load(text))
    assert flow is not None and problems == [], problems
    gw.gateway.workflows.register(flow)


def _run(
    gw: GatewayThread, principal: Principal, flow: str, inputs: dict[str, Any]
) -> tuple[RunRecord, dict[str, StepRecord]]:
    async def go() -> tuple[RunRecord, dict[str, StepRecord]]:
        wf = gw.gateway.workflows
        run = await wf.start(principal, flow, inputs)
        done = await wf.wait(run.id, tenant="default", timeout=20)
        _, steps = await wf.get(run.id, tenant="default")
        return done, {s.key: s for s in steps}

    return gw.run(go)


def test_a_step_uses_a_registry_prompt_and_a_knowledge_base_with_the_runs_rights(gw: GatewayThread) -> None:
    """A prompt reference renders through the registry; retrieval sees what the run's key may read."""
    admin = KbClient(gw.url, gw.admin_key)
    assert admin.create("handbook").status == 201
    assert (
        admin.add("handbook", {"source": "leave.txt", "text": "Employees get 30 days of paid leave."}).status
        == 201
    )
    answer = call(gw.url, "POST", "/admin/prompts", gw.admin_key, {"name": "summary", **summary_prompt("v1")})
    assert answer.status == 201, answer.body
    _register(
        gw,
        """
name: answer
outputs: {context: docs.context, summary: summarise.text}
steps:
  - {id: docs, kind: retrieve, knowledge_bases: [handbook], query: "{{ inputs.q }}", k: 2}
  - id: summarise
    kind: llm
    prompt: {name: summary, version: 1, variables: {text: "{{ docs.context }}"}}
""",
    )
    reader = _principal(gw, ("developer",), frozenset({"knowledge_bases:read"}))
    run, steps = _run(gw, reader, "answer", {"q": "paid leave days"})
    assert run.status == "succeeded", run.error
    assert run.outputs is not None and "30 days of paid leave" in run.outputs["context"]
    assert run.outputs["summary"].startswith("v1: [1] Employees get 30 days")  # sim/echo of the prompt's text
    assert steps["summarise"].input["prompt"] == {
        "name": "summary",
        "version": 1,
        "variables": {"text": run.outputs["context"]},
    }
    records = gw.wait_records(1)
    assert [(r.prompt_name, r.prompt_version, r.key_id) for r in records if r.prompt_name] == [
        ("summary", 1, reader.id)
    ]

    outsider = _principal(gw, ("reviewer",), frozenset())
    run, steps = _run(gw, outsider, "answer", {"q": "paid leave days"})
    assert run.status == "failed" and run.error is not None and run.error.step == "docs"
    assert "PermissionDenied (403)" in run.error.message and steps["docs"].attempts == 1


def test_validate_applies_a_guardrail_policy_and_http_tools_call_out(gw: GatewayThread) -> None:
    """A validate step runs a configured guardrail policy; an HTTP tool's JSON answer is its output."""
    _register(
        gw,
        f"""
name: checked
outputs: {{health: ping.status, verdict: check.valid}}
steps:
  - id: ping
    kind: tool
    http: {{url: "{gw.url}/healthz", method: GET, timeout_ms: 2000}}
  - {{id: check, kind: validate, input: inputs.text, policy: no-secrets, on_fail: refused}}
  - {{id: fine, kind: branch, cases: [{{when: 'true', goto: end}}]}}
  - {{id: refused, kind: tool, http: {{url: "{gw.url}/no-such-page", method: GET}}}}
""",
    )
    principal = _principal(gw, (), frozenset())
    run, steps = _run(gw, principal, "checked", {"text": "all public"})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"health": "ok", "verdict": True}
    run, steps = _run(gw, principal, "checked", {"text": "this is classified"})
    assert steps["check"].status == "failed" and "Blocked by guardrail policy 'no-secrets'" in (
        steps["check"].error or ""
    )
    assert run.status == "failed" and run.error is not None and run.error.step == "refused"
    assert "answered 404" in run.error.message
    metrics = call(gw.url, "GET", "/metrics").body.decode()
    assert (
        'podium_workflow_step_duration_seconds_count{flow="checked",status="failed",step="check"} 1.0'
        in metrics
    )
    assert (
        'podium_workflow_step_duration_seconds_count{flow="checked",status="succeeded",step="ping"} 2.0'
        in metrics
    )
    assert "podium_workflow_review_backlog 0.0" in metrics


def test_a_review_escalates_then_expires_and_takes_its_timeout_path(gw: GatewayThread) -> None:
    """Past its escalation time a review moves to the escalation role; past its deadline the step skips."""
    _register(
        gw,
        """
name: slow-review
outputs: {decision: review.decision, content: review.content}
steps:
  - id: review
    kind: human_review
    content: inputs
    role: legal
    escalation: {after_s: 0.2, role: legal-lead}
    deadline_s: 1.2
    on_timeout: skip
""",
    )
    principal = _principal(gw, (), frozenset())
    run, _ = _run(gw, principal, "slow-review", {"a": 1})
    assert run.status == "waiting"

    async def settle() -> tuple[list[str], RunRecord]:
        wf = gw.gateway.workflows
        roles: list[str] = []
        for _ in range(100):
            tasks = await wf.reviews.list(ReviewQuery(tenant="default", run_id=run.id, status=None))
            roles += [t.role or "" for t in tasks if t.role not in roles]
            done = await wf.wait(run.id, tenant="default", timeout=0.05)
            if done.status == "succeeded":
                return roles, done
            if done.status == "waiting":
                await asyncio.sleep(0.05)
        return roles, await wf.wait(run.id, tenant="default", timeout=0)

    roles, done = gw.run(settle, timeout=30)
    assert "legal-lead" in roles
    assert done.status == "succeeded", done.error
    assert done.outputs == {"decision": "expire", "content": {"a": 1}}


def test_a_run_is_one_trace_with_a_span_per_step_and_its_model_calls_inside(tmp_path: Path) -> None:
    """With tracing on, a run is a trace: the run span, a span per step, the step's model call under it."""
    config = make_config(
        {"observability": {"tracing": {"enabled": True}}, "workflows": {"poll_interval_ms": 20}}
    )
    gw = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        exporter = InMemorySpanExporter()
        gw.gateway.telemetry.tracing.add_span_processor(SimpleSpanProcessor(exporter))
        _register(
            gw,
            """
name: traced
steps:
  - {id: ask, kind: llm, model: sim/echo, messages: [{role: user, content: hello}]}
  - {id: done, kind: branch, cases: [{when: 'ask.text == "hello"', goto: end}]}
""",
        )
        run, _ = _run(gw, _principal(gw, (), frozenset()), "traced", {})
        assert run.status == "succeeded", run.error
        spans = exporter.get_finished_spans()
        [root] = [s for s in spans if s.name == "podium.workflow.run"]
        assert root.attributes is not None and root.attributes["podium.workflow.run_id"] == run.id
        steps = [s for s in spans if s.name == "podium.workflow.step"]
        assert [s.attributes and s.attributes["podium.workflow.step"] for s in steps] == ["ask", "done"]
        assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in steps)
        ask = steps[0]
        inside = [s for s in spans if s.parent is not None and s.parent.span_id == ask.context.span_id]
        assert inside and all(s.context.trace_id == root.context.trace_id for s in inside)
    finally:
        gw.stop()
