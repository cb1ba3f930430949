"""The ``identity`` and ``audit`` sections are checked like the rest of podium.yaml: every problem, with its path."""

from __future__ import annotations

from tests.config.helpers import problems

BAD = """
identity:
  roles:
    admin:
      permissions: [keys:read]
    viewer:
      permissions: [keys:read, keys:destroy, "*:read"]
      include: [nobody]
    loop-a:
      include: [loop-b]
    loop-b:
      include: [loop-a]
    empty: {}
  oidc:
    issuer: not-a-url
    audience: podium
    algorithms: [HS256]
    role_map: {admins: superuser}
audit:
  key: short
  signing_key: not-base64
"""


def test_every_governance_problem_is_reported_with_its_path() -> None:
    """Built-in name clashes, unknown permissions and roles, include cycles, bad OIDC settings and short keys are all reported."""
    found = problems(BAD, {})
    expected = [
        "identity.roles.admin: 'admin' is a built-in role; choose another name",
        "identity.roles.viewer.permissions[1]: unknown permission 'keys:destroy'",
        "identity.roles.viewer.include[0]: unknown role 'nobody'",
        "identity.roles.empty: grants nothing",
        "identity.roles.loop-a.include: includes itself: loop-a → loop-b → loop-a",
        "identity.oidc.issuer: must be an http(s) URL, got 'not-a-url'",
        "identity.oidc.role_map.admins: unknown role 'superuser'",
        "identity.oidc.algorithms[0]: 'HS256' is not an asymmetric JWS algorithm",
        "audit.key: must be at least 16 characters",
        "audit.signing_key: must be the base64 of a 32-byte Ed25519 private key",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)
