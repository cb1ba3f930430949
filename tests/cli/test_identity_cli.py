"""``podium tenants | teams | users | roles | keys | audit`` as real processes on the storage a running
server uses: changes reach the server, and every change the CLI makes is in the audit trail."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url


def cli(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args, "--data-dir", str(tmp)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
        cwd=tmp,
    )


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    gateway = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def test_identity_commands_reach_the_running_server(gw: GatewayThread, tmp_path: Path) -> None:
    """A tenant, team, person and key made with the CLI work on the running server; the CLI's changes are audited and verify."""
    assert cli(tmp_path, "tenants", "create", "acme", "--name", "Acme Corp").returncode == 0
    assert cli(tmp_path, "teams", "create", "--tenant", "acme", "search").returncode == 0
    made = cli(
        tmp_path,
        "users",
        "create",
        "ana",
        "--tenant",
        "acme",
        "--roles",
        "admin",
        "--team",
        "search",
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )
    assert made.returncode == 0, made.stderr
    key = cli(tmp_path, "keys", "create", "--name", "svc", "--tenant", "acme", "--roles", "auditor", "--json")
    assert key.returncode == 0, key.stderr
    info = json.loads(key.stdout)
    assert info["tenant"] == "acme" and info["roles"] == ["auditor"]

    listed = json.loads(cli(tmp_path, "tenants", "list", "--json").stdout.splitlines()[0])
    assert listed["id"] == "acme" and listed["name"] == "Acme Corp"
    users = cli(tmp_path, "users", "list", "--tenant", "acme")
    assert "ana" in users.stdout and "admin" in users.stdout and "argon2" not in users.stdout

    deadline = time.monotonic() + 2
    while True:  # the server's mirrors pick the new tenant, person and key up within a second
        session = call(
            gw.url,
            "POST",
            "/admin/login",
            None,
            {"tenant": "acme", "username": "ana", "password": "correct horse battery staple"},
        )
        if session.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert session.status == 200, session.body
    token = session.json()["token"]
    assert call(gw.url, "GET", "/admin/me", token).json()["tenant"] == "acme"
    assert [t["name"] for t in call(gw.url, "GET", "/admin/teams", token).json()["data"]] == ["search"]
    assert call(gw.url, "GET", "/admin/audit", info["key"]).status == 200
    assert call(gw.url, "POST", "/admin/keys", info["key"], {"name": "x"}).status == 403

    assert cli(tmp_path, "users", "disable", "--tenant", "acme", made.stdout.split()[1]).returncode == 0
    exported = cli(tmp_path, "audit", "export", "--tenant", "acme")
    actions = [json.loads(line)["action"] for line in exported.stdout.splitlines()]
    assert {"cli.teams.create", "cli.users.create", "cli.keys.create", "cli.users.disable"} <= set(actions)
    assert all(
        json.loads(line)["actor"].startswith("cli:")
        for line in exported.stdout.splitlines()
        if "cli." in line
    )
    verified = cli(tmp_path, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """Unknown roles, tenants and duplicate names are refused with a message and exit 1, leaving nothing behind."""
    bad_role = cli(tmp_path, "keys", "create", "--name", "x", "--roles", "superuser")
    assert bad_role.returncode == 1 and "Unknown role(s) 'superuser'" in bad_role.stderr
    no_tenant = cli(tmp_path, "users", "create", "bob", "--tenant", "nowhere", "--no-password")
    assert no_tenant.returncode == 1 and "No tenant 'nowhere'" in no_tenant.stderr
    assert cli(tmp_path, "tenants", "create", "acme").returncode == 0
    again = cli(tmp_path, "tenants", "create", "acme")
    assert again.returncode == 1 and "exists already" in again.stderr
    slug = cli(tmp_path, "tenants", "create", "Not A Slug")
    assert slug.returncode == 1 and "lowercase" in slug.stderr
    assert cli(tmp_path, "keys", "list", "--json").stdout == ""


def test_roles_lists_builtin_and_custom_roles(tmp_path: Path) -> None:
    """`podium roles` lists the built-in roles and the config's custom ones, and shows a role's permissions."""
    config = tmp_path / "podium.yaml"
    config.write_text(
        "identity:\n  roles:\n    billing-viewer:\n      description: sees spend\n"
        "      permissions: [requests:read]\n      include: [reviewer]\n"
    )
    listed = subprocess.run(
        [sys.executable, "-m", "podium", "roles", "list", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names[:8] == [
        "owner",
        "admin",
        "operator",
        "prompt-engineer",
        "developer",
        "reviewer",
        "auditor",
        "application",
    ]
    assert "billing-viewer" in names
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "podium",
            "roles",
            "show",
            "billing-viewer",
            "--config",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    role = json.loads(shown.stdout)
    assert set(role["permissions"]) == {
        "requests:read",
        "reviews:read",
        "reviews:decide",
        "workflows:read",
        "profile:read",
    }
