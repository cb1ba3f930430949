"""Every workflow and review route declares a permission, each built-in role gets exactly the routes
its permissions allow, and the routes are in the OpenAPI document with their permission."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from podium.gateway.permissions import spec_of
from podium.identity.permissions import BUILTIN_ROLES
from tests.admin_client import call
from tests.workflows.surface import FlowServer, flow_server

PREFIXES = ("/v1/flows", "/v1/runs", "/v1/reviews")
# The path parameters to use: nothing by these names exists, so an allowed call ends in a 404 or 400.
PARAMS = {"flow": "contract-analysis", "run_id": "run_000000000000000000000000", "review_id": "rev_0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    with flow_server(tmp_path_factory.mktemp("rbac")) as s:
        yield s


def _routes(server: FlowServer) -> list[tuple[str, str, str | None]]:
    found = []
    for route in server.gw.gateway.router.routes:
        if route.path.startswith(PREFIXES):
            spec = spec_of(route.handler)
            assert spec is not None, f"{route.method} {route.path} declares no permission"
            found.append((route.method, route.path, spec.permission))
    return found


def test_every_route_declares_a_workflow_or_review_permission(server: FlowServer) -> None:
    """The eleven routes exist and each needs a workflows:* or reviews:* permission."""
    routes = _routes(server)
    assert len(routes) == 11
    assert {p for _, _, p in routes} == {"workflows:read", "workflows:run", "reviews:read", "reviews:decide"}


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_each_role_reaches_exactly_what_its_permissions_allow(server: FlowServer, role: str) -> None:
    """A role without the route's permission gets a 403 naming it; a role with it gets past the check."""
    key = server.gw.new_key(name=f"rbac-{role}", roles=(role,))
    granted = BUILTIN_ROLES[role].permissions
    wrong = []
    for method, template, permission in _routes(server):
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], template)
        body = {"decision": "approve"} if path.endswith("/decision") else ({} if method == "POST" else None)
        if template.endswith("/runs") and method == "POST":
            body = {"inputs": {}}  # invalid inputs: allowed callers get a 400, and no run is made
        answer = call(server.url, method, path, key, body)
        if permission in granted:
            if answer.status in (401, 403):
                wrong.append(f"{role} {method} {template}: expected past {permission}, got {answer.status}")
        elif not (answer.status == 403 and f"'{permission}'" in answer.body.decode()):
            wrong.append(f"{role} {method} {template}: expected 403 for {permission}, got {answer.status}")
    assert wrong == []


def test_the_routes_are_in_the_openapi_document(server: FlowServer) -> None:
    """/admin/openapi.json describes each route with its permission and its answer's schema."""
    doc = call(server.url, "GET", "/admin/openapi.json").json()
    for method, template, permission in _routes(server):
        op = doc["paths"][template][method.lower()]
        assert op["x-permission"] == permission and op["summary"]
    start = doc["paths"]["/v1/flows/{flow}/runs"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"]
    assert (
        "text/event-stream" in doc["paths"]["/v1/runs/{run_id}/events"]["get"]["responses"]["200"]["content"]
    )
