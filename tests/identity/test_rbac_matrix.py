"""The RBAC matrix: every admin endpoint x every built-in role, allowed or denied as documented, and
reads that never cross tenants. The endpoint list comes from the gateway's own route table, so a new
admin endpoint without an entry in ``REQUESTS`` below fails :func:`test_every_admin_endpoint_has_a_matrix_entry`."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podium.gateway.permissions import spec_of
from podium.identity.permissions import BUILTIN_ROLES
from podium.identity.tenants import create_team, create_tenant
from podium.identity.users import create_user
from podium.keys import create_key
from podium.storage.audit_records import AuditEvent
from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url

PUBLIC = {("POST", "/admin/login"), ("GET", "/admin/openapi.json"), ("GET", "/admin/docs")}
_counter = itertools.count()


@dataclass
class World:
    gw: GatewayThread
    keys: dict[str, str]  # role -> secret, tenant "default"
    acme_owner: str  # an owner key of tenant "acme"
    default_user_id: str
    default_key_id: str

    def run(self, factory: Callable[[], Any]) -> Any:
        return self.gw.run(factory)

    def fresh_key(self) -> str:
        async def make() -> str:
            _, record = await create_key(self.gw.storage, name=f"victim-{next(_counter)}")
            return record.id

        return str(self.run(make))

    def fresh_user(self) -> str:
        async def make() -> str:
            user = await create_user(
                self.gw.storage,
                self.gw.gateway.identity.roles,
                tenant="default",
                username=f"u{next(_counter)}",
            )
            return user.id

        return str(self.run(make))

    def fresh_team(self) -> str:
        async def make() -> str:
            team = await create_team(self.gw.storage, tenant="default", name=f"team-{next(_counter)}")
            return team.name

        return str(self.run(make))


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


# (method, path) -> a function giving the concrete path and body for one call. Bodies are valid, so
# an allowed call succeeds (2xx) and a denied one is refused for its permission alone.
REQUESTS: dict[tuple[str, str], Callable[[World], tuple[str, Any]]] = {
    ("GET", "/admin/requests"): lambda w: ("/admin/requests", None),
    ("GET", "/admin/usage"): lambda w: ("/admin/usage?group_by=model", None),
    ("GET", "/admin/evaluations"): lambda w: ("/admin/evaluations?group_by=route", None),
    ("GET", "/admin/alerts"): lambda w: ("/admin/alerts", None),
    ("GET", "/admin/keys"): lambda w: ("/admin/keys", None),
    ("POST", "/admin/keys"): lambda w: ("/admin/keys", {"name": unique("k")}),
    ("GET", "/admin/keys/{key_id}"): lambda w: (f"/admin/keys/{w.default_key_id}", None),
    ("DELETE", "/admin/keys/{key_id}"): lambda w: (f"/admin/keys/{w.fresh_key()}", None),
    ("GET", "/admin/me"): lambda w: ("/admin/me", None),
    ("GET", "/admin/tenants"): lambda w: ("/admin/tenants", None),
    ("POST", "/admin/tenants"): lambda w: ("/admin/tenants", {"id": unique("t")}),
    ("GET", "/admin/tenants/{tenant_id}"): lambda w: ("/admin/tenants/default", None),
    ("PATCH", "/admin/tenants/{tenant_id}"): lambda w: ("/admin/tenants/default", {"name": "Default"}),
    ("POST", "/admin/tenants/{tenant_id}/owner-key"): lambda w: ("/admin/tenants/acme/owner-key", None),
    ("GET", "/admin/teams"): lambda w: ("/admin/teams", None),
    ("POST", "/admin/teams"): lambda w: ("/admin/teams", {"name": unique("team")}),
    ("DELETE", "/admin/teams/{team}"): lambda w: (f"/admin/teams/{w.fresh_team()}", None),
    ("GET", "/admin/users"): lambda w: ("/admin/users", None),
    ("POST", "/admin/users"): lambda w: ("/admin/users", {"username": unique("person")}),
    ("GET", "/admin/users/{user_id}"): lambda w: (f"/admin/users/{w.default_user_id}", None),
    ("PATCH", "/admin/users/{user_id}"): lambda w: (f"/admin/users/{w.fresh_user()}", {"display_name": "X"}),
    ("DELETE", "/admin/users/{user_id}"): lambda w: (f"/admin/users/{w.fresh_user()}", None),
    ("GET", "/admin/roles"): lambda w: ("/admin/roles", None),
    ("GET", "/admin/roles/{name}"): lambda w: ("/admin/roles/auditor", None),
    ("GET", "/admin/policies"): lambda w: ("/admin/policies", None),
    ("GET", "/admin/policies/{name}"): lambda w: ("/admin/policies/standard", None),
    ("GET", "/admin/audit"): lambda w: ("/admin/audit", None),
    ("GET", "/admin/audit/export"): lambda w: ("/admin/audit/export", None),
    ("POST", "/admin/audit/verify"): lambda w: ("/admin/audit/verify", None),
    ("GET", "/admin/audit/checkpoints"): lambda w: ("/admin/audit/checkpoints", None),
    ("POST", "/admin/audit/checkpoints"): lambda w: ("/admin/audit/checkpoints", None),
}

# Endpoints of other features, checked for authorisation only: an allowed role gets past the
# permission check (no 401/403), whatever the handler then says about the placeholder resource.
AUTHORISATION_ONLY: dict[tuple[str, str], Callable[[World], tuple[str, Any]]] = {
    ("GET", "/admin/prompts"): lambda w: ("/admin/prompts", None),
    ("POST", "/admin/prompts"): lambda w: (
        "/admin/prompts",
        {"name": unique("p"), "template": "Hi {{ name }}"},
    ),
    ("GET", "/admin/prompt-approvals"): lambda w: ("/admin/prompt-approvals", None),
    ("POST", "/admin/prompt-approvals/{approval_id}/approve"): lambda w: (
        "/admin/prompt-approvals/apr_none/approve",
        None,
    ),
    ("POST", "/admin/prompt-approvals/{approval_id}/reject"): lambda w: (
        "/admin/prompt-approvals/apr_none/reject",
        None,
    ),
    ("GET", "/admin/prompts/{name}"): lambda w: ("/admin/prompts/none", None),
    ("POST", "/admin/prompts/{name}/versions"): lambda w: ("/admin/prompts/none/versions", {"template": "x"}),
    ("GET", "/admin/prompts/{name}/versions/{ref}"): lambda w: ("/admin/prompts/none/versions/1", None),
    ("GET", "/admin/prompts/{name}/diff"): lambda w: ("/admin/prompts/none/diff?from=1&to=2", None),
    ("POST", "/admin/prompts/{name}/render"): lambda w: ("/admin/prompts/none/render", {"variables": {}}),
    ("GET", "/admin/prompts/{name}/metrics"): lambda w: ("/admin/prompts/none/metrics", None),
    ("PUT", "/admin/prompts/{name}/labels/{label}"): lambda w: (
        "/admin/prompts/none/labels/staging",
        {"version": 1},
    ),
    ("DELETE", "/admin/prompts/{name}/labels/{label}"): lambda w: (
        "/admin/prompts/none/labels/staging",
        None,
    ),
    ("POST", "/admin/prompts/{name}/labels/{label}/rollback"): lambda w: (
        "/admin/prompts/none/labels/staging/rollback",
        None,
    ),
    ("GET", "/admin/prompts/{name}/labels/{label}/history"): lambda w: (
        "/admin/prompts/none/labels/staging/history",
        None,
    ),
}


def admin_routes(gw: GatewayThread) -> list[tuple[str, str, str | None]]:
    """(method, path, permission) of every /admin/ route the running gateway serves."""
    found = []
    for route in gw.gateway.router.routes:
        if route.path.startswith("/admin/"):
            spec = spec_of(route.handler)
            assert spec is not None, (
                f"{route.method} {route.path} is neither an admin_route nor a public_route"
            )
            found.append((route.method, route.path, spec.permission))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    policies = {"policies": {"standard": {"input": [{"type": "injection", "action": "block"}]}}}
    gw = GatewayThread(
        make_config({"guardrails": policies}), sqlite_url(tmp_path_factory.mktemp("rbac"))
    ).start()

    async def setup() -> World:
        storage = gw.storage
        keys = {}
        for role in BUILTIN_ROLES:
            secret, record = await create_key(storage, name=f"as-{role}", roles=(role,))
            gw.gateway.keys.add(record)
            keys[role] = secret
        await create_tenant(storage, tenant_id="acme")
        acme, record = await create_key(storage, name="acme owner", tenant="acme", roles=("owner",))
        gw.gateway.keys.add(record)
        user = await create_user(storage, gw.gateway.identity.roles, tenant="default", username="resident")
        _, key = await create_key(storage, name="resident key")
        await gw.gateway.governance.directory.sync()
        # Something in the trail, so that a checkpoint can be made by the first allowed caller.
        gw.gateway.audit.submit(
            AuditEvent(time=time.time(), tenant="default", actor="test", action="test.setup")
        )
        return World(gw, keys, acme, user.id, key.id)

    w = gw.run(setup)
    try:
        yield w
    finally:
        gw.stop()


def test_every_admin_endpoint_has_a_matrix_entry(world: World) -> None:
    """Every /admin/ route declares a permission (or is one of the few public ones) and has a matrix entry."""
    routes = admin_routes(world.gw)
    public = {(m, p) for m, p, permission in routes if permission is None}
    assert public == PUBLIC
    known = REQUESTS.keys() | AUTHORISATION_ONLY.keys()
    missing = [(m, p) for m, p, permission in routes if permission is not None and (m, p) not in known]
    assert missing == [], f"add these endpoints to the RBAC matrix: {missing}"
    stale = set(known) - {(m, p) for m, p, _ in routes}
    assert stale == set(), f"no longer routed: {stale}"


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_rbac_matrix(world: World, role: str) -> None:
    """Each built-in role reaches exactly the admin endpoints whose permission its documented set holds."""
    routes = {(m, p): permission for m, p, permission in admin_routes(world.gw) if permission is not None}
    granted = BUILTIN_ROLES[role].permissions
    wrong: list[str] = []
    for (method, template), permission in routes.items():
        strict = (method, template) in REQUESTS
        path, body = (REQUESTS if strict else AUTHORISATION_ONLY)[(method, template)](world)
        answer = call(world.gw.url, method, path, world.keys[role], body)
        allowed = permission in granted
        if allowed and strict and not 200 <= answer.status < 300:
            wrong.append(
                f"{role} {method} {template}: expected allowed, got {answer.status} {answer.body[:200]!r}"
            )
        if allowed and not strict and answer.status in (401, 403):
            wrong.append(f"{role} {method} {template}: expected past {permission}, got {answer.status}")
        refused_for_it = (
            answer.status == 403
            and answer.code == "permission_denied"
            and f"'{permission}'" in answer.body.decode()
        )
        if not allowed and not refused_for_it:
            wrong.append(f"{role} {method} {template}: expected 403 for {permission}, got {answer.status}")
    assert wrong == []


def test_denials_are_audited(world: World) -> None:
    """A refused call leaves an audit entry naming the caller, the endpoint and the missing permission."""
    answer = call(world.gw.url, "POST", "/admin/keys", world.keys["auditor"], {"name": "nope"})
    assert answer.status == 403

    async def entries() -> list[Any]:
        await world.gw.gateway.audit.flush()
        return await world.gw.storage.audit.recent(tenant="default", limit=20)

    found = [
        e
        for e in world.run(entries)
        if e.outcome == "denied" and e.action == "admin.create_key" and "keys:write" in e.details["reason"]
    ]
    assert found and found[0].actor.startswith("key:")


def test_other_tenant_is_invisible(world: World) -> None:
    """An owner of another tenant sees none of this tenant's keys, people, requests, audit or tenant record."""
    url, acme = world.gw.url, world.acme_owner
    # A model call recorded for tenant default, so the request log has something to hide.
    chat = {"model": "sim/echo", "messages": [{"role": "user", "content": "default's secret"}]}
    assert call(url, "POST", "/v1/chat/completions", world.keys["application"], chat).status == 200
    world.gw.wait_records(1)
    mine = call(url, "GET", "/admin/requests", world.keys["owner"]).json()["data"]
    assert mine and {r["tenant"] for r in mine} == {"default"}

    keys = call(url, "GET", "/admin/keys", acme).json()["data"]
    assert keys and {k["tenant"] for k in keys} == {"acme"}
    assert call(url, "GET", f"/admin/keys/{world.default_key_id}", acme).status == 404
    assert call(url, "DELETE", f"/admin/keys/{world.default_key_id}", acme).status == 404
    assert call(url, "GET", "/admin/users", acme).json()["data"] == []
    assert call(url, "GET", f"/admin/users/{world.default_user_id}", acme).status == 404
    assert (
        call(url, "PATCH", f"/admin/users/{world.default_user_id}", acme, {"display_name": "x"}).status == 404
    )
    assert [t["id"] for t in call(url, "GET", "/admin/tenants", acme).json()["data"]] == ["acme"]
    assert call(url, "GET", "/admin/tenants/default", acme).status == 404
    assert call(url, "POST", "/admin/tenants", acme, {"id": "evil"}).status == 403
    assert call(url, "GET", "/admin/teams", acme).json()["data"] == []
    audit = call(url, "GET", "/admin/audit?limit=1000", acme).json()["data"]
    assert {e["tenant"] for e in audit} <= {"acme"}
    export = call(url, "GET", "/admin/audit/export", acme)
    assert all(b'"tenant":"acme"' in line for line in export.body.splitlines())

    assert call(url, "GET", "/admin/requests?limit=1000", acme).json()["data"] == []
    # The key still works for its own tenant, and the attempts on the other tenant's resources were audited.
    assert call(url, "GET", "/admin/me", acme).json()["tenant"] == "acme"

    async def denied() -> list[Any]:
        await world.gw.gateway.audit.flush()
        return [
            e for e in await world.gw.storage.audit.recent(tenant="acme", limit=100) if e.outcome == "denied"
        ]

    actions = {e.action for e in world.run(denied)}
    assert {"admin.get_key", "admin.revoke_key", "admin.get_user", "admin.get_tenant"} <= actions


def test_documented_matrix_matches_the_code() -> None:
    """docs/access-control.md carries the roles x permissions table exactly as the code defines it."""
    from podium.identity.permissions import matrix_markdown

    doc = Path(__file__).parents[2] / "docs" / "access-control.md"
    assert matrix_markdown() in doc.read_text()
