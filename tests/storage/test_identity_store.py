"""The identity store contract (tenants, teams, people), run against every backend on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from podium.storage import Storage
from podium.storage.identity_records import TeamRecord, TenantRecord, UserRecord
from podium.storage.records import KeyRecord

OpenStorage = Callable[[], Awaitable[Storage]]


def tenant(name: str, **changes: object) -> TenantRecord:
    return msgspec.structs.replace(
        TenantRecord(id=name, name=name.title(), created_at=1_700_000_000.25), **changes
    )


def user(n: int, **changes: object) -> UserRecord:
    record = UserRecord(
        id=f"usr_{n:016x}", tenant="default", username=f"user{n}", created_at=1_700_000_000.0 + n
    )
    return msgspec.structs.replace(record, **changes)


async def test_default_tenant_exists_after_migrate(storage: Storage) -> None:
    """Migrating creates the root tenant 'default', which keys made before tenants existed belong to."""
    found = await storage.identity.get_tenant("default")
    assert found is not None and found.disabled_at is None and found.rev > 0


async def test_tenant_round_trips_and_updates(storage: Storage) -> None:
    """A tenant reads back equal; an update replaces its fields and draws a new rev; unknown ids are None."""
    created = await storage.identity.create_tenant(tenant("acme", audit_content=True, metadata={"k": "v"}))
    assert created == msgspec.structs.replace(
        tenant("acme", audit_content=True, metadata={"k": "v"}), rev=created.rev
    )
    assert await storage.identity.get_tenant("acme") == created
    updated = await storage.identity.update_tenant(
        msgspec.structs.replace(created, disabled_at=1_800_000_000.5)
    )
    assert updated is not None and updated.rev > created.rev
    assert await storage.identity.get_tenant("acme") == updated
    assert await storage.identity.update_tenant(tenant("ghost")) is None
    assert await storage.identity.get_tenant("ghost") is None
    assert [t.id for t in await storage.identity.list_tenants()] == ["acme", "default"]


async def test_duplicates_are_refused(storage: Storage) -> None:
    """A second tenant id, team name in a tenant, or username in a tenant raises ValueError."""
    await storage.identity.create_tenant(tenant("acme"))
    with pytest.raises(ValueError):
        await storage.identity.create_tenant(tenant("acme"))
    team = TeamRecord(tenant="acme", name="search", created_at=1.0)
    await storage.identity.create_team(team)
    with pytest.raises(ValueError):
        await storage.identity.create_team(team)
    await storage.identity.create_team(
        msgspec.structs.replace(team, tenant="default")
    )  # another tenant: fine
    await storage.identity.create_user(user(1))
    with pytest.raises(ValueError):
        await storage.identity.create_user(user(2, username="user1"))
    await storage.identity.create_user(user(3, username="user1", tenant="acme"))


async def test_teams_list_and_delete(storage: Storage) -> None:
    """Teams list by name within their tenant; deleting reports whether there was one."""
    for name in ("zeta", "alpha"):
        await storage.identity.create_team(
            TeamRecord(tenant="default", name=name, description=name, created_at=2.0)
        )
    assert [t.name for t in await storage.identity.list_teams("default")] == ["alpha", "zeta"]
    assert await storage.identity.list_teams("acme") == []
    assert await storage.identity.delete_team("default", "alpha") is True
    assert await storage.identity.delete_team("default", "alpha") is False
    assert [t.name for t in await storage.identity.list_teams("default")] == ["zeta"]


async def test_user_round_trips_and_is_found_by_name(storage: Storage) -> None:
    """A person reads back equal by id and by (tenant, username); updates keep the id and draw a new rev."""
    created = await storage.identity.create_user(
        user(1, roles=("admin", "auditor"), password_hash="$argon2id$x", email="a@example.com", team="search")
    )
    assert await storage.identity.get_user(created.id) == created
    assert await storage.identity.find_user("default", "user1") == created
    assert await storage.identity.find_user("acme", "user1") is None
    updated = await storage.identity.update_user(
        msgspec.structs.replace(created, roles=(), session_version=2)
    )
    assert updated is not None and updated.rev > created.rev and updated.roles == ()
    assert await storage.identity.get_user(created.id) == updated
    assert await storage.identity.update_user(user(9)) is None
    assert [u.id for u in await storage.identity.list_users("default")] == [created.id]


async def test_changes_since_follows_tenants_and_users_in_rev_order(storage: Storage) -> None:
    """changes_since returns tenants and users written after a rev, each at its latest version."""
    start = max(t.rev for t in await storage.identity.list_tenants())
    a = await storage.identity.create_user(user(1))
    t = await storage.identity.create_tenant(tenant("acme"))
    a2 = await storage.identity.update_user(msgspec.structs.replace(a, display_name="A"))
    assert a2 is not None
    changes = await storage.identity.changes_since(start)
    assert changes.users == (a2,) and changes.tenants == (t,)
    later = await storage.identity.changes_since(a2.rev)
    assert later.users == () and later.tenants == ()


async def test_revs_are_shared_and_distinct_across_instances(
    open_instance: OpenStorage, storage: Storage
) -> None:
    """Two instances writing tenants and users at once draw distinct revs, and both see every write."""
    other = await open_instance()
    writes = [
        (storage if n % 2 else other).identity.create_user(user(n))
        if n % 3
        else storage.identity.create_tenant(tenant(f"t{n}"))
        for n in range(1, 16)
    ]
    done = await asyncio.gather(*writes)
    revs = [r.rev for r in done]
    assert len(set(revs)) == len(revs)
    seen = await other.identity.changes_since(0)
    assert {r.rev for r in (*seen.users, *seen.tenants)} >= set(revs)


async def test_key_identity_fields_round_trip(storage: Storage) -> None:
    """A key's roles, team, guardrail policy and allowed regions read back as written."""
    key = KeyRecord(
        id="key_roles",
        name="k",
        hash="f" * 64,
        prefix="pk-x",
        created_at=1.0,
        tenant="acme",
        roles=("developer", "reviewer"),
        team="search",
        guardrail_policy="strict-pii",
        allowed_regions=("eu", "eu-west-1"),
    )
    created = await storage.keys.create(key)
    assert await storage.keys.get(key.id) == created
    assert (await storage.keys.changes_since(0))[-1] == created
