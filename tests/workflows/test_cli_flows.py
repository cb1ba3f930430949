"""``podium flows`` and ``podium reviews`` against a running server, and ``podium flows check`` on files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.cli import main
from tests.workflows.surface import CONTRACTS, EXAMPLES, TICKETS, FlowServer, flow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    with flow_server(tmp_path_factory.mktemp("cli")) as s:
        yield s


def podium(
    capsys: pytest.CaptureFixture[str], server: FlowServer | None, *args: str, key: str | None = None
) -> tuple[int, str, str]:
    """Run the CLI in process; returns (exit status, stdout, stderr)."""
    capsys.readouterr()
    tail = [] if server is None else ["--url", server.url, "--api-key", key or server.owner]
    code = main([*args, *tail])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_reports_every_problem_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped flows are clean; a flow with an unbounded cycle and an unknown step fails with both named."""
    code, out, _ = podium(
        capsys,
        None,
        "flows",
        "check",
        str(EXAMPLES / "contract-analysis.yaml"),
        str(EXAMPLES / "support-triage.yaml"),
    )
    assert code == 0 and out.count(": ok") == 2
    bad = tmp_path / "loop.yaml"
    bad.write_text(
        """
name: loop
steps:
  - {id: ask, kind: llm, model: sim/echo, messages: [{role: user, content: hi}]}
  - id: again
    kind: branch
    cases: [{when: 'ask.text == "no"', goto: ask}, {when: "true", goto: revieww}]
    default: ask
"""
    )
    code, out, _ = podium(capsys, None, "flows", "check", str(bad))
    assert code == 1
    assert "steps[1].cases[1].goto: unknown step 'revieww'" in out
    assert "cycle" in out and "max_visits" in out


def test_run_review_and_show_a_contract_from_the_shell(
    server: FlowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """flows run pauses the SaaS contract; reviews list shows it; a broken modify is refused; approve finishes it."""
    contract = CONTRACTS / "saas-subscription.txt"
    code, out, err = podium(
        capsys, server, "flows", "run", "contract-analysis", "-i", f"contract=@{contract}", "--json"
    )
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "waiting"
    review_id = run["review_id"]

    legal = server.keys["legal"]
    code, out, _ = podium(capsys, server, "reviews", "list", "--mine", key=legal)
    assert code == 0 and review_id in out and "legal" in out

    code, out, _ = podium(capsys, server, "reviews", "show", review_id, key=legal)
    assert code == 0 and '"risk"' in out

    code, _, err = podium(
        capsys, server, "reviews", "modify", review_id, "--content", '{"risk": "dire"}', key=legal
    )
    assert code == 1 and "HTTP 400" in err

    code, out, err = podium(capsys, server, "reviews", "approve", review_id, key=legal)
    assert code == 0, err
    assert f"{review_id}: approved" in out

    run = server.settle(run["id"])
    assert run["status"] == "succeeded"
    code, out, _ = podium(capsys, server, "flows", "show", run["id"])
    assert code == 0 and "succeeded" in out and "summarize" in out and "extract[7]" in out

    code, out, _ = podium(capsys, server, "flows", "list", "--flow", "contract-analysis")
    assert code == 0 and run["id"] in out

    code, _, err = podium(capsys, server, "reviews", "approve", review_id, key=legal)
    assert code == 1 and "HTTP 409" in err


def test_reject_and_cancel_from_the_shell(server: FlowServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A rejected draft hands the ticket to a person; a waiting run can be cancelled from the shell."""
    lead = server.keys["support-lead"]
    ticket = TICKETS / "api-outage.json"
    code, out, _ = podium(
        capsys, server, "flows", "run", "support-triage", "--inputs", f"@{ticket}", "--json"
    )
    run = json.loads(out)
    assert code == 0 and run["status"] == "waiting"
    code, out, err = podium(
        capsys, server, "reviews", "reject", run["review_id"], "--reason", "needs an engineer", key=lead
    )
    assert code == 0, err
    done = server.settle(run["id"])
    assert done["status"] == "succeeded"
    assert done["output"]["handoff"] == {"assigned_to": "human:billing-desk", "reason": "needs an engineer"}
    assert done["output"]["urgency"] == "urgent"  # the outage words raised it, whatever the classifier said

    code, out, _ = podium(
        capsys, server, "flows", "run", "support-triage", "--inputs", f"@{ticket}", "--json"
    )
    waiting = json.loads(out)
    code, out, _ = podium(capsys, server, "flows", "cancel", waiting["id"])
    assert code == 0 and f"{waiting['id']}: cancelled" in out


def test_errors_are_reported_not_raised(
    server: FlowServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown flow, bad inputs, a key without the permission and a missing key each print one clear line."""
    code, _, err = podium(capsys, server, "flows", "run", "nope")
    assert code == 1 and "HTTP 404" in err
    code, _, err = podium(capsys, server, "flows", "run", "contract-analysis", "-i", "title=x")
    assert code == 1 and "HTTP 400" in err and "contract" in err
    code, _, err = podium(capsys, server, "flows", "list", key=server.keys["application"])
    assert code == 1 and "workflows:read" in err
    monkeypatch.delenv("PODIUM_API_KEY", raising=False)
    capsys.readouterr()
    assert main(["flows", "list", "--url", server.url]) == 1
    assert "PODIUM_API_KEY" in capsys.readouterr().err


def test_follow_prints_each_event_until_the_run_ends(
    server: FlowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """flows run --follow streams the run's events, one line each, then prints the finished run."""
    nda = CONTRACTS / "mutual-nda.txt"
    code, out, err = podium(
        capsys, server, "flows", "run", "contract-analysis", "-i", f"contract=@{nda}", "--follow"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("run.queued") and any(
        line.endswith("step.succeeded extract[7]") for line in lines
    )
    assert "run.succeeded" in out and "status  succeeded" in out


def test_podium_check_checks_the_configured_flows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """podium check loads workflows.flows like serve does: a broken flow fails it, with the flow's path."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "ok.yaml").write_text(
        "name: ok\nsteps: [{id: a, kind: llm, model: sim/echo, messages: [{role: user, content: hi}]}]\n"
    )
    config = tmp_path / "podium.yaml"
    config.write_text(f"providers: {{sim: {{type: simulated}}}}\nworkflows: {{flows: ['{flows}']}}\n")
    code, out, _ = podium(capsys, None, "check", "--config", str(config))
    assert code == 0 and "flows: ok" in out
    (flows / "broken.yaml").write_text(
        "name: broken\nsteps: [{id: a, kind: branch, cases: [], default: nowhere}]\n"
    )
    code, _, err = podium(capsys, None, "check", "--config", str(config))
    assert code == 1 and "broken.yaml: steps[0].default: unknown step 'nowhere'" in err
