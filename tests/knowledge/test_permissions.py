"""The knowledge-base API's permission matrix: every route under /v1/knowledge-bases (taken from the
gateway's own route table) x every built-in role, allowed or refused as the role's permissions say; the
routes in the OpenAPI document with their permission; and another tenant's owner finding nothing."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from podium.gateway.permissions import spec_of
from podium.identity.permissions import BUILTIN_ROLES
from podium.identity.tenants import create_tenant
from podium.keys import create_key
from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient

PREFIX = "/v1/knowledge-bases"
_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


@dataclass
class World:
    gw: GatewayThread
    keys: dict[str, str]  # role -> secret, tenant "default"
    acme_owner: str
    kb_id: str  # "shared", tenant default
    ingestion_id: str

    @property
    def admin(self) -> KbClient:
        return KbClient(self.gw.url, self.gw.admin_key)

    def fresh_kb(self) -> str:
        name = unique("doomed")
        assert self.admin.create(name).status == 201
        return name

    def fresh_document(self) -> str:
        added = self.admin.add("shared", {"source": unique("doomed") + ".txt", "text": "Short-lived."})
        assert added.status == 201, added.body
        return str(added.json()["documents"][0]["id"])


# (method, path template) -> the concrete path and a valid body: an allowed call succeeds (2xx), a refused
# one is refused for its permission alone.
REQUESTS: dict[tuple[str, str], Callable[[World], tuple[str, Any]]] = {
    ("POST", PREFIX): lambda w: (PREFIX, {"name": unique("kb")}),
    ("GET", PREFIX): lambda w: (PREFIX, None),
    ("GET", PREFIX + "/{kb}"): lambda w: (f"{PREFIX}/shared", None),
    ("PATCH", PREFIX + "/{kb}"): lambda w: (f"{PREFIX}/shared", {"description": unique("d")}),
    ("DELETE", PREFIX + "/{kb}"): lambda w: (f"{PREFIX}/{w.fresh_kb()}", None),
    ("POST", PREFIX + "/{kb}/documents"): lambda w: (
        f"{PREFIX}/shared/documents",
        {"documents": [{"source": unique("doc") + ".txt", "text": "Rooms are booked through the desk."}]},
    ),
    ("GET", PREFIX + "/{kb}/documents"): lambda w: (f"{PREFIX}/shared/documents", None),
    ("DELETE", PREFIX + "/{kb}/documents/{document_id}"): lambda w: (
        f"{PREFIX}/shared/documents/{w.fresh_document()}",
        None,
    ),
    ("GET", PREFIX + "/{kb}/ingestions"): lambda w: (f"{PREFIX}/shared/ingestions", None),
    ("GET", PREFIX + "/{kb}/ingestions/{ingestion_id}"): lambda w: (
        f"{PREFIX}/shared/ingestions/{w.ingestion_id}",
        None,
    ),
    ("POST", PREFIX + "/{kb}/query"): lambda w: (f"{PREFIX}/shared/query", {"query": "how are rooms booked"}),
}


def kb_routes(gw: GatewayThread) -> dict[tuple[str, str], str | None]:
    """(method, path) -> permission of every knowledge-base route the running gateway serves."""
    found = {}
    for route in gw.gateway.router.routes:
        if route.path == PREFIX or route.path.startswith(PREFIX + "/"):
            spec = spec_of(route.handler)
            assert spec is not None, f"{route.method} {route.path} declares no permission"
            found[(route.method, route.path)] = spec.permission
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    config = make_config({"knowledge": {"embedding_model": "sim/embed"}})
    gw = GatewayThread(config, sqlite_url(tmp_path_factory.mktemp("kb-rbac"))).start()

    async def keys() -> tuple[dict[str, str], str]:
        made = {}
        for role in BUILTIN_ROLES:
            secret, record = await create_key(gw.storage, name=f"as-{role}", roles=(role,))
            gw.gateway.keys.add(record)
            made[role] = secret
        await create_tenant(gw.storage, tenant_id="acme")
        acme, record = await create_key(gw.storage, name="acme owner", tenant="acme", roles=("owner",))
        gw.gateway.keys.add(record)
        await gw.gateway.governance.directory.sync()
        return made, acme

    try:
        made, acme = gw.run(keys)
        admin = KbClient(gw.url, gw.admin_key)
        created = admin.create("shared")
        assert created.status == 201, created.body
        text = {"source": "rooms.txt", "text": "Meeting rooms are booked through the front desk."}
        job = admin.add("shared", text, background=True)
        assert job.status == 202, job.body
        yield World(gw, made, acme, created.json()["id"], job.json()["id"])
    finally:
        gw.stop()


def test_every_knowledge_base_route_declares_a_knowledge_permission(world: World) -> None:
    """Each route under /v1/knowledge-bases checks knowledge_bases:read or :write and has a matrix entry."""
    routes = kb_routes(world.gw)
    assert set(routes.values()) == {"knowledge_bases:read", "knowledge_bases:write"}
    assert set(routes) == set(REQUESTS), "add new knowledge-base routes to REQUESTS"


def test_knowledge_base_routes_are_in_the_openapi_document(world: World) -> None:
    """/admin/openapi.json describes every knowledge-base route with its permission and path parameters."""
    doc = call(world.gw.url, "GET", "/admin/openapi.json").json()
    for (method, path), permission in kb_routes(world.gw).items():
        op = doc["paths"][path][method.lower()]
        assert op["x-permission"] == permission and op["security"] == [{"bearer": []}]
        assert [p["name"] for p in op["parameters"] if p["in"] == "path"] == re.findall(r"\{(\w+)\}", path)
        assert "403" in op["responses"] and op["summary"]
    query = doc["paths"][PREFIX + "/{kb}/query"]["post"]
    schema = query["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert {"query", "k", "filter", "rrf_k", "vector_weight"} <= set(
        doc["components"]["schemas"][schema]["properties"]
    )


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_knowledge_base_permission_matrix(world: World, role: str) -> None:
    """Each built-in role reaches exactly the knowledge-base routes its permissions grant; the rest are 403."""
    granted = BUILTIN_ROLES[role].permissions
    wrong = []
    for (method, template), permission in kb_routes(world.gw).items():
        path, body = REQUESTS[(method, template)](world)
        answer = call(world.gw.url, method, path, world.keys[role], body)
        if permission in granted:
            if not 200 <= answer.status < 300:
                wrong.append(
                    f"{method} {template}: expected allowed, got {answer.status} {answer.body[:200]!r}"
                )
        elif not (
            answer.status == 403
            and answer.code == "permission_denied"
            and f"'{permission}'" in answer.body.decode()
        ):
            wrong.append(f"{method} {template}: expected 403 for {permission}, got {answer.status}")
    assert wrong == []


def test_another_tenant_finds_nothing(world: World) -> None:
    """Another tenant's owner gets 404 on every route of this tenant's knowledge base, by name and by id."""
    for method, template in kb_routes(world.gw):
        if "{kb}" not in template:
            continue
        for ref in ("shared", world.kb_id):
            path, body = REQUESTS[(method, template)](world)
            path = path.replace(f"{PREFIX}/shared", f"{PREFIX}/{ref}", 1)
            answer = call(world.gw.url, method, path, world.acme_owner, body)
            assert answer.status == 404, (method, path, answer.status, answer.body[:200])
    listed = call(world.gw.url, "GET", PREFIX, world.acme_owner).json()["data"]
    assert "shared" not in [kb["name"] for kb in listed]
    mine = KbClient(world.gw.url, world.acme_owner)
    assert mine.create("shared").status == 201  # the same name in another tenant is another knowledge base
    assert mine.query("shared", "how are rooms booked").json()["data"] == []
    assert world.admin.query("shared", "how are rooms booked").json()["data"][0]["source"] == "rooms.txt"
