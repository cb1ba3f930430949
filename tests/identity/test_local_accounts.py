"""Local accounts: argon2-hashed passwords, signed session tokens any replica can check from memory,
and sessions that end everywhere when the password changes or the person is disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url

PASSWORD = "correct horse battery staple"


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    gateway = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def make_user(gw: GatewayThread, username: str = "ana", roles: list[str] | None = None, **extra: Any) -> str:
    body = {"username": username, "password": PASSWORD, "roles": roles or ["operator"], **extra}
    answer = call(gw.url, "POST", "/admin/users", gw.admin_key, body)
    assert answer.status == 201, answer.body
    assert "password" not in answer.body.decode() and "argon2" not in answer.body.decode()
    return str(answer.json()["id"])


def login(gw: GatewayThread, username: str = "ana", password: str = PASSWORD, **extra: Any) -> Any:
    return call(gw.url, "POST", "/admin/login", None, {"username": username, "password": password, **extra})


def test_password_is_stored_as_argon2id(gw: GatewayThread) -> None:
    """The stored password is an argon2id hash, never the password itself."""
    user_id = make_user(gw)

    async def stored() -> str | None:
        user = await gw.storage.identity.get_user(user_id)
        return user.password_hash if user else None

    digest = gw.run(stored)
    assert digest is not None and digest.startswith("$argon2id$") and PASSWORD not in digest


def test_sign_in_and_use_the_session(gw: GatewayThread) -> None:
    """A person signs in with username and password; the token works as a Bearer credential with their roles."""
    make_user(gw)
    answer = login(gw)
    assert answer.status == 200, answer.body
    token = answer.json()["token"]
    me = call(gw.url, "GET", "/admin/me", token).json()
    assert (me["kind"], me["name"], me["roles"]) == ("user", "ana", ["operator"])
    assert call(gw.url, "GET", "/admin/keys", token).status == 200
    assert call(gw.url, "GET", "/admin/audit", token).status == 403  # operators do not read the audit trail


def test_wrong_password_and_unknown_user_look_the_same(gw: GatewayThread) -> None:
    """A wrong password and an unknown username both get 401 invalid_credentials, and both are audited."""
    make_user(gw)
    wrong = login(gw, password="not the password at all")
    nobody = login(gw, username="mallory")
    assert (wrong.status, wrong.code) == (nobody.status, nobody.code) == (401, "invalid_credentials")

    async def denied() -> list[Any]:
        await gw.gateway.audit.flush()
        return [e for e in await gw.storage.audit.recent(limit=50) if e.action == "admin.login"]

    actors = {e.actor for e in gw.run(denied) if e.outcome == "denied"}
    assert {"login:ana", "login:mallory"} <= actors


def test_tampered_or_foreign_session_is_refused(gw: GatewayThread) -> None:
    """A session token with a changed payload or signature is refused with 401."""
    make_user(gw)
    token = login(gw).json()["token"]
    payload, signature = token.removeprefix("ps_").split(".")
    flipped = "ps_" + payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (flipped, "ps_" + payload[:-2] + "xx." + signature, "ps_garbage"):
        answer = call(gw.url, "GET", "/admin/me", bad)
        assert (answer.status, answer.code) == (401, "invalid_session")


def _until_refused(gw: GatewayThread, token: str, code: str) -> float:
    t0 = time.monotonic()
    while True:
        answer = call(gw.url, "GET", "/admin/me", token)
        if answer.status == 401:
            assert answer.code == code
            return time.monotonic() - t0
        assert time.monotonic() - t0 < 1.5, "session still works"
        time.sleep(0.05)


def test_password_change_ends_sessions(gw: GatewayThread) -> None:
    """Changing the password ends every session the person had; the new password signs in."""
    user_id = make_user(gw)
    token = login(gw).json()["token"]
    changed = call(
        gw.url, "PATCH", f"/admin/users/{user_id}", gw.admin_key, {"password": "a brand new passphrase"}
    )
    assert changed.status == 200
    _until_refused(gw, token, "expired_session")
    assert login(gw).status == 401
    assert login(gw, password="a brand new passphrase").status == 200


def test_disabling_ends_sessions_from_the_cli_too(gw: GatewayThread, tmp_path: Path) -> None:
    """Disabling a person (here straight in storage, as the CLI does) ends their session within a second."""
    user_id = make_user(gw)
    token = login(gw).json()["token"]

    async def disable() -> None:
        from podium.identity.roles import RoleBook
        from podium.identity.users import update_user

        await update_user(
            gw.storage, RoleBook(gw.config.identity), tenant="default", user_id=user_id, disabled=True
        )

    gw.run(disable)
    _until_refused(gw, token, "account_disabled")
    assert (login(gw).status, login(gw).code) == (401, "account_disabled")


def test_short_password_is_refused(gw: GatewayThread) -> None:
    """A password shorter than 12 characters is refused with 400 naming the field, and nothing is created."""
    answer = call(gw.url, "POST", "/admin/users", gw.admin_key, {"username": "bob", "password": "short"})
    assert (answer.status, answer.json()["error"]["param"]) == (400, "password")
    assert call(gw.url, "GET", "/admin/users", gw.admin_key).json()["data"] == []


def test_no_one_grants_more_than_they_hold(gw: GatewayThread) -> None:
    """An admin may create an auditor but not an owner, and may not strip an owner's role."""
    make_user(gw, "adm", ["admin"])
    token = login(gw, "adm").json()["token"]
    assert (
        call(gw.url, "POST", "/admin/users", token, {"username": "aud", "roles": ["auditor"]}).status == 201
    )
    escalate = call(gw.url, "POST", "/admin/users", token, {"username": "own", "roles": ["owner"]})
    assert (escalate.status, escalate.code) == (403, "permission_denied")
    owner_id = make_user(gw, "boss", ["owner"])
    demote = call(gw.url, "PATCH", f"/admin/users/{owner_id}", token, {"roles": ["auditor"]})
    assert demote.status == 403
    key = call(gw.url, "POST", "/admin/keys", token, {"name": "sneaky", "scopes": ["admin"]})
    assert key.status == 403  # the legacy admin scope is the owner role


def test_local_accounts_can_be_switched_off(tmp_path: Path) -> None:
    """With identity.local_accounts false, signing in is refused with 403."""
    gateway = GatewayThread(
        make_config({"identity": {"local_accounts": False}}), sqlite_url(tmp_path)
    ).start()
    try:
        answer = login(gateway)
        assert (answer.status, answer.code) == (403, "permission_denied")
    finally:
        gateway.stop()


def _throttled(tmp_path: Path, **throttle: Any) -> GatewayThread:
    config = make_config({"identity": {"login_throttle": throttle}})
    return GatewayThread(config, sqlite_url(tmp_path)).start()


def test_repeated_failures_lock_the_account_even_for_the_right_password(tmp_path: Path) -> None:
    """After five failed sign-ins an account is refused with 429 and Retry-After, right password or not;
    other accounts still sign in."""
    gw = _throttled(tmp_path)
    try:
        make_user(gw)
        make_user(gw, "ben")
        for _ in range(5):
            assert login(gw, password="guess " * 3).status == 401
        locked = login(gw)
        assert (locked.status, locked.code) == (429, "too_many_sign_in_failures")
        assert int(locked.headers["Retry-After"]) >= 1
        assert "token" not in locked.body.decode()
        assert login(gw, username="ben").status == 200
    finally:
        gw.stop()


def test_failures_from_one_address_are_limited_across_usernames(tmp_path: Path) -> None:
    """Guessing across many usernames from one address is refused once the address's failures run out."""
    gw = _throttled(tmp_path, failures_per_address=3, failures_per_account=100)
    try:
        make_user(gw)
        for name in ("mallory", "trent", "eve"):
            assert login(gw, username=name).status == 401  # unknown users count like known ones
        refused = login(gw)
        assert (refused.status, refused.code) == (429, "too_many_sign_in_failures")
        assert "address" in refused.json()["error"]["message"]
    finally:
        gw.stop()


def test_failures_age_out_of_the_window(tmp_path: Path) -> None:
    """Once the failures leave the window the account signs in again."""
    gw = _throttled(tmp_path, failures_per_account=2, window_seconds=2)
    try:
        make_user(gw)
        for _ in range(2):
            assert login(gw, password="wrong wrong wrong").status == 401
        assert login(gw).status == 429
        deadline = time.monotonic() + 5
        while (answer := login(gw)).status == 429:
            assert time.monotonic() < deadline, "the account stayed locked after its window"
            time.sleep(0.05)
        assert answer.status == 200
    finally:
        gw.stop()
