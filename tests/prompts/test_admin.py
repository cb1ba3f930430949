"""The admin API under /admin/prompts: versions, diffs, labels, protection, approvals, previews."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.prompts.helpers import call, summary_prompt

ROLES = {"prompt-writer": {"permissions": ["prompts:read", "prompts:write"]}}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    config = make_config(
        {
            "prompts": {"protected_labels": ["production"], "require_approval": True},
            "identity": {"roles": ROLES},
        }
    )
    g = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


class Person:
    def __init__(self, gw: GatewayThread, *roles: str) -> None:
        self.gw = gw
        self.key = gw.new_key(name="-".join(roles), roles=roles, scopes=("admin", "inference"))

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return call(self.gw.url, self.key, method, path, body)


def test_versions_are_immutable_numbered_and_diffable(gw: GatewayThread) -> None:
    """Each create is a new numbered version with author and message; diff shows template and config changes."""
    alice = Person(gw, "prompt-engineer")
    assert alice("POST", "/admin/prompts", {"name": "summary", **summary_prompt("one")})[0] == 201
    changed = summary_prompt("two", message="shorter answers")
    changed["config"] = {**changed["config"], "max_tokens": 100}
    status, v2 = alice("POST", "/admin/prompts/summary/versions", changed)
    assert status == 201 and v2["version"] == 2 and v2["message"] == "shorter answers"
    assert v2["author"].startswith("key:")
    status, same = alice("POST", "/admin/prompts/summary/versions", {**changed, "only_if_changed": True})
    assert status == 200 and same["created"] is False and same["version"] == 2

    status, diff = alice("GET", "/admin/prompts/summary/diff?from=1&to=v2")
    assert status == 200
    assert "-one: {{ text }}" in diff["template_diff"] and "+two: {{ text }}" in diff["template_diff"]
    assert diff["changes"] == [{"path": "config.max_tokens", "from": 200, "to": 100}]

    status, summary = alice("GET", "/admin/prompts/summary")
    assert [v["version"] for v in summary["versions"]] == [1, 2]
    status, v1 = alice("GET", "/admin/prompts/summary/versions/1")
    assert v1["spec"]["messages"][1]["content"] == "one: {{ text }}"
    status, listing = alice("GET", "/admin/prompts")
    assert [(p["name"], p["latest_version"]) for p in listing["data"]] == [("summary", 2)]


def test_bad_versions_are_refused_by_name(gw: GatewayThread) -> None:
    """A version with an undeclared variable, a mistyped default or an unknown field is a 400 naming it."""
    alice = Person(gw, "prompt-engineer")
    cases = [
        ({"name": "p", "template": "{{ who }}"}, "template"),
        (
            {"name": "p", "template": "x", "variables": {"n": {"type": "integer", "default": "3"}}},
            "variables.n.default",
        ),
        ({"name": "p", "template": "x", "tempreature": 1}, None),
        ({"name": "p", "template": "x", "messages": [{"role": "user", "content": "y"}]}, "template"),
        ({"name": "bad name", "template": "x"}, "name"),
        ({"name": "p", "template": "x", "config": {"temperature": 3}}, "config.temperature"),
    ]
    for body, param in cases:
        status, answer = alice("POST", "/admin/prompts", body)
        assert status == 400, (body, answer)
        if param is not None:
            assert answer["error"]["param"] == param, answer
    assert alice("GET", "/admin/prompts")[1]["data"] == []


def test_protected_label_needs_promote_and_a_second_persons_approval(gw: GatewayThread) -> None:
    """production moves only after a second, different promoter approves that exact move; then requests switch."""
    alice, bob, writer = (
        Person(gw, "prompt-engineer"),
        Person(gw, "prompt-engineer"),
        Person(gw, "prompt-writer"),
    )
    for marker in ("one", "two"):
        assert alice("POST", "/admin/prompts/summary/versions", summary_prompt(marker))[0] == 201
    assert writer("PUT", "/admin/prompts/summary/labels/staging", {"version": 2})[0] == 200  # not protected

    status, denied = writer("PUT", "/admin/prompts/summary/labels/production", {"version": 1})
    assert status == 403 and "prompts:promote" in denied["error"]["message"]

    status, first = alice("PUT", "/admin/prompts/summary/labels/production", {"version": 1, "note": "launch"})
    assert status == 202 and first["status"] == "pending_approval"
    assert (
        alice("GET", "/admin/prompts/summary/labels/production/history")[1]["data"] == []
    )  # nothing moved yet
    status, own = alice("POST", f"/admin/prompt-approvals/{first['id']}/approve")
    assert status == 403 and own["error"]["code"] == "approval_by_requester"
    assert writer("POST", f"/admin/prompt-approvals/{first['id']}/approve")[0] == 403  # no promote permission
    status, approved = bob("POST", f"/admin/prompt-approvals/{first['id']}/approve")
    assert status == 200 and approved["status"] == "applied"

    with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as c:

        def ask() -> str | None:
            reply = c.chat.completions.create(
                model="prompt:summary",
                messages=[],
                extra_body={"podium": {"prompt": {"variables": {"text": "t"}}}},
            )
            return reply.choices[0].message.content

        assert ask() == "one: t"
        status, second = alice("PUT", "/admin/prompts/summary/labels/production", {"version": 2})
        assert status == 202
        assert ask() == "one: t"  # still v1 while the move waits
        status, stale = alice("PUT", "/admin/prompts/summary/labels/production", {"version": 2})
        assert status == 202
        assert bob("POST", f"/admin/prompt-approvals/{second['id']}/approve")[0] == 200
        assert ask() == "two: t"
        status, superseded = bob("POST", f"/admin/prompt-approvals/{stale['id']}/approve")
        assert status == 409 and superseded["error"]["code"] == "approval_superseded"

        # rollback is moving the label back: the same rules apply
        status, back = alice("POST", "/admin/prompts/summary/labels/production/rollback")
        assert status == 202
        assert bob("POST", f"/admin/prompt-approvals/{back['id']}/reject")[0] == 200
        assert ask() == "two: t"
    status, history = alice("GET", "/admin/prompts/summary/labels/production/history")
    assert [(h["targets"], h["approved_by"] is not None) for h in history["data"]] == [
        ([[2, 100.0]], True),
        ([[1, 100.0]], True),
    ]
    status, pending = bob("GET", "/admin/prompt-approvals?status=pending")
    assert pending["data"] == []


def test_unprotected_labels_move_and_roll_back_at_once(tmp_path: Path) -> None:
    """Without approval rules a label moves immediately, and rollback returns it to its previous version."""
    g = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        admin = Person(g, "owner")
        for marker in ("one", "two"):
            admin("POST", "/admin/prompts/summary/versions", summary_prompt(marker))
        assert admin("PUT", "/admin/prompts/summary/labels/production", {"version": 1})[0] == 200
        assert admin("PUT", "/admin/prompts/summary/labels/production", {"version": 2})[0] == 200
        status, back = admin("POST", "/admin/prompts/summary/labels/production/rollback")
        assert status == 200 and back["label"]["targets"] == [[1, 100.0]]
        status, preview = admin("POST", "/admin/prompts/summary/render", {"variables": {"text": "hi"}})
        assert status == 200 and preview["version"] == 1
        assert preview["messages"][1] == {"role": "user", "content": "one: hi"}
        status, bad = admin("POST", "/admin/prompts/summary/render", {"version": 2, "variables": {}})
        assert status == 400 and bad["error"]["param"] == "podium.prompt.variables.text"
        assert admin("PUT", "/admin/prompts/summary/labels/production", {"version": 7})[0] == 404
        assert admin("PUT", "/admin/prompts/summary/labels/latest", {"version": 1})[0] == 400
        assert admin("DELETE", "/admin/prompts/summary/labels/production")[0] == 200
        assert admin("GET", "/admin/prompts/summary")[1]["labels"] == []
    finally:
        g.stop()


def test_reads_and_writes_need_their_permissions(gw: GatewayThread) -> None:
    """An application key may read prompts but not write them."""
    app = Person(gw, "application")
    assert app("GET", "/admin/prompts")[0] == 200
    status, answer = app("POST", "/admin/prompts", {"name": "p", "template": "x"})
    assert status == 403 and "prompts:write" in answer["error"]["message"]
