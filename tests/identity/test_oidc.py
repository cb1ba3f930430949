"""People reach the admin API with OIDC JWTs: checked against the issuer's JWKS (fetched over HTTP,
cached, refreshed when keys rotate), claims mapped to roles and tenant; every bad token refused and audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.identity.jwks_server import Issuer, ec_key, rsa_key


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    server = Issuer().start()
    try:
        yield server
    finally:
        server.stop()


def oidc_gateway(tmp: Path, issuer: Issuer, **oidc: Any) -> GatewayThread:
    settings = {
        "issuer": issuer.url,
        "audience": "podium",
        "roles_claim": "groups",
        "role_map": {"podium-admins": "admin", "auditors": "auditor"},
        "tenant_claim": "org",
        **oidc,
    }
    return GatewayThread(make_config({"identity": {"oidc": settings}}), sqlite_url(tmp)).start()


@pytest.fixture
def gw(tmp_path: Path, issuer: Issuer) -> Iterator[GatewayThread]:
    gateway = oidc_gateway(tmp_path, issuer)
    try:
        yield gateway
    finally:
        gateway.stop()


def denied_entries(gw: GatewayThread) -> list[Any]:
    async def read() -> list[Any]:
        await gw.gateway.audit.flush()
        return [e for e in await gw.storage.audit.recent(limit=100) if e.outcome == "denied"]

    return gw.run(read)


def test_valid_token_maps_claims_to_roles(gw: GatewayThread, issuer: Issuer) -> None:
    """A valid token (found through the discovery document) becomes a person with the mapped roles."""
    token = issuer.token(groups=["podium-admins", "unrelated"])
    me = call(gw.url, "GET", "/admin/me", token)
    assert me.status == 200, me.body
    assert me.json()["kind"] == "oidc" and me.json()["name"] == "ana@example.com"
    assert me.json()["roles"] == ["admin"] and me.json()["tenant"] == "default"
    assert call(gw.url, "POST", "/admin/teams", token, {"name": "search"}).status == 201


def test_role_without_permission_is_refused(gw: GatewayThread, issuer: Issuer) -> None:
    """An auditor's token reads the audit trail but may not create keys: 403, audited."""
    token = issuer.token(groups=["auditors"])
    assert call(gw.url, "GET", "/admin/audit", token).status == 200
    answer = call(gw.url, "POST", "/admin/keys", token, {"name": "x"})
    assert (answer.status, answer.code) == (403, "permission_denied")
    assert any(e.actor == "oidc:person-1" and e.action == "admin.create_key" for e in denied_entries(gw))


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda i: i.token(key=rsa_key(), groups=["podium-admins"]), "invalid_token"),  # forged signature
        (lambda i: i.token(expires_in=-120, groups=["podium-admins"]), "expired_token"),
        (lambda i: i.token(issuer="https://evil.example.com", groups=["podium-admins"]), "invalid_issuer"),
        (lambda i: i.token(audience="another-app", groups=["podium-admins"]), "invalid_audience"),
        (lambda i: i.token(org="no-such-tenant", groups=["podium-admins"]), "unknown_tenant"),
        (
            lambda i: i.token(alg="HS256", key="a-shared-secret-of-32-bytes-long!", groups=["podium-admins"]),
            "invalid_token",
        ),
        (
            lambda i: jwt.encode(
                {"sub": "x", "iss": i.url, "aud": "podium", "exp": time.time() + 60}, None, algorithm="none"
            ),
            "invalid_token",
        ),
        (lambda i: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "invalid_token"),
    ],
    ids=[
        "forged",
        "expired",
        "wrong-issuer",
        "wrong-audience",
        "unknown-tenant",
        "hmac-alg",
        "alg-none",
        "garbage",
    ],
)
def test_bad_tokens_are_refused_and_audited(gw: GatewayThread, issuer: Issuer, make: Any, code: str) -> None:
    """A forged, expired, foreign or malformed token gets 401 with a clear code, and an audit entry."""
    answer = call(gw.url, "GET", "/admin/me", make(issuer))
    assert answer.status == 401, answer.body
    assert answer.code == code
    assert answer.json()["error"]["message"]
    entries = denied_entries(gw)
    assert any(e.details["code"] == code and e.actor == "anonymous" for e in entries)


def test_rotated_key_is_fetched_once(gw: GatewayThread, issuer: Issuer) -> None:
    """A token signed with a new key id makes the gateway fetch the JWKS again, then accept it."""
    assert call(gw.url, "GET", "/admin/me", issuer.token(groups=["auditors"])).status == 200
    before = issuer.jwks_fetches
    time.sleep(1.1)  # past the refresh cool-down
    issuer.keys["k2"] = ec_key()
    try:
        answer = call(gw.url, "GET", "/admin/me", issuer.token(kid="k2", alg="ES256", groups=["auditors"]))
        assert answer.status == 200, answer.body
        assert issuer.jwks_fetches == before + 1
        # The same key again: served from the cache, no new fetch.
        assert (
            call(gw.url, "GET", "/admin/me", issuer.token(kid="k2", alg="ES256", groups=["auditors"])).status
            == 200
        )
        assert issuer.jwks_fetches == before + 1
    finally:
        del issuer.keys["k2"]


def test_unknown_roles_can_refuse_the_token(tmp_path: Path, issuer: Issuer) -> None:
    """With unknown_roles: deny, a group missing from role_map refuses the token instead of being ignored."""
    gateway = oidc_gateway(tmp_path, issuer, unknown_roles="deny")
    try:
        answer = call(gateway.url, "GET", "/admin/me", issuer.token(groups=["podium-admins", "interns"]))
        assert (answer.status, answer.code) == (401, "unknown_role")
    finally:
        gateway.stop()


def test_unreachable_issuer_is_a_clear_503(tmp_path: Path, issuer: Issuer) -> None:
    """When the issuer's keys cannot be fetched at all, the caller gets 503 identity_provider_unavailable."""
    gateway = oidc_gateway(tmp_path, issuer, jwks_url="http://127.0.0.1:9/jwks")
    try:
        answer = call(gateway.url, "GET", "/admin/me", issuer.token(groups=["auditors"]))
        assert (answer.status, answer.code) == (503, "identity_provider_unavailable")
    finally:
        gateway.stop()
