"""The admin API describes itself: an OpenAPI 3.1 document generated from the route table, and a docs
page that renders it without loading anything from elsewhere."""

from __future__ import annotations

import re
from typing import Any

from podium.gateway.permissions import spec_of
from tests.admin_client import call
from tests.harness import GatewayThread


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_openapi_document_covers_every_admin_route(gateway: GatewayThread) -> None:
    """Every /admin/ route is in the document with its permission, path parameters and schemas that resolve."""
    answer = call(gateway.url, "GET", "/admin/openapi.json")
    assert answer.status == 200
    doc = answer.json()
    assert doc["openapi"] == "3.1.0"
    routes = [r for r in gateway.gateway.router.routes if r.path.startswith("/admin/")]
    for route in routes:
        path = re.sub(r"\{(\w+)(?:\.\.\.)?\}", r"{\1}", route.path)
        op = doc["paths"][path][route.method.lower()]
        spec = spec_of(route.handler)
        assert spec is not None and op["x-permission"] == spec.permission
        assert [p["name"] for p in op["parameters"] if p["in"] == "path"] == re.findall(
            r"\{(\w+)", route.path
        )
        assert op["summary"]
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.split("/")[-1] in schemas, ref
    create_key = doc["paths"]["/admin/keys"]["post"]
    body = schemas[create_key["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert {"name", "roles", "guardrail_policy", "allowed_regions", "team"} <= set(body["properties"])
    assert doc["paths"]["/admin/audit/export"]["get"]["responses"]["200"]["content"].keys() == {
        "application/x-ndjson"
    }


def test_docs_page_is_self_contained(gateway: GatewayThread) -> None:
    """/admin/docs is an HTML page that loads only /admin/openapi.json, with a CSP forbidding anything else."""
    answer = call(gateway.url, "GET", "/admin/docs")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/html")
    html = answer.body.decode()
    assert 'fetch("openapi.json")' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
