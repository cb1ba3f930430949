"""Tampering with the audit storage directly in SQL — modify, delete, insert, reorder — on SQLite and
PostgreSQL: ``podium audit verify`` (a real subprocess) catches each and names the first bad entry."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import msgspec
import pytest

from podium.audit.chain import canonical, entry_hash
from podium.audit.keys import audit_keys
from podium.config.governance import AuditSettings
from podium.storage import open_storage
from podium.storage.audit_records import AuditEntry, AuditEvent
from tests.pg import fresh_schema

ENTRIES = 10


@dataclass
class Chain:
    """A database holding a 10-entry chain, the CLI arguments that reach it, and raw SQL on it."""

    args: list[str]
    execute: Callable[[str, tuple[Any, ...]], Awaitable[None]]
    fetch: Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]
    mark: str  # "?" (SQLite) or "$" (PostgreSQL)

    def p(self, n: int) -> str:
        return "?" if self.mark == "?" else f"${n}"


def verify(chain: Chain, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", "audit", "verify", *chain.args, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _fill(url: str) -> None:
    storage = await open_storage(url)
    try:
        await storage.migrate()
        key, _ = await audit_keys(storage.meta, AuditSettings())
        events = [
            AuditEvent(
                time=1_700_000_000.0 + n,
                tenant="default" if n % 3 else "acme",
                actor=f"key:key_{n:016x}",
                action="admin.create_key",
                resource=f"/admin/keys/key_{n}",
                details={"n": n, "cost_usd": n / 7, "nested": {"b": [1, 2.5], "a": None}},
            )
            for n in range(1, ENTRIES + 1)
        ]
        await storage.audit.append(events[:4], key=key)  # two batches: the chain spans appends
        await storage.audit.append(events[4:], key=key)
    finally:
        await storage.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def chain(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Chain]:
    if request.param == "sqlite":
        db = tmp_path / "data" / "podium.db"
        await _fill(f"sqlite:///{db}")
        conn = await aiosqlite.connect(db, isolation_level=None)

        async def execute(sql: str, args: tuple[Any, ...]) -> None:
            await conn.execute(sql, args)

        async def fetch(sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await conn.execute_fetchall(sql, args)]

        try:
            yield Chain(["--data-dir", str(db.parent)], execute, fetch, "?")
        finally:
            await conn.close()
        return
    async with fresh_schema() as url:
        await _fill(url)
        config = tmp_path / "podium.yaml"
        config.write_text(f"storage:\n  url: {url}\n")
        base, schema = url.split("?schema=")
        pg = await asyncpg.connect(base, server_settings={"search_path": schema})

        async def pg_execute(sql: str, args: tuple[Any, ...]) -> None:
            await pg.execute(sql, *args)

        async def pg_fetch(sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await pg.fetch(sql, *args)]

        try:
            yield Chain(["--config", str(config)], pg_execute, pg_fetch, "$")
        finally:
            await pg.close()


async def _row(chain: Chain, seq: int) -> AuditEntry:
    columns = [f.name for f in msgspec.structs.fields(AuditEntry)]
    rows = await chain.fetch(f"SELECT {', '.join(columns)} FROM audit_log WHERE seq = {chain.p(1)}", (seq,))
    fields = dict(zip(columns, rows[0], strict=True))
    fields["details"] = msgspec.json.decode(fields["details"])
    return msgspec.convert(fields, AuditEntry)


async def _check(chain: Chain, first_bad: int, reason: str) -> None:
    result = await asyncio.to_thread(verify, chain)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"first bad entry is {first_bad}:" in result.stderr, result.stderr
    assert reason in result.stderr, result.stderr


async def test_intact_chain_verifies(chain: Chain) -> None:
    """An untouched chain verifies: every entry checked, exit status 0."""
    result = await asyncio.to_thread(verify, chain)
    assert result.returncode == 0, result.stderr
    assert f"ok: {ENTRIES} entries, head at {ENTRIES}" in result.stdout


async def test_modified_entry_is_named(chain: Chain) -> None:
    """A changed field makes its entry's hash wrong: verify names that entry."""
    await chain.execute(f"UPDATE audit_log SET action = 'admin.nothing' WHERE seq = {chain.p(1)}", (4,))
    await _check(chain, 4, "modified")


async def test_modified_entry_with_recomputed_hash_is_named(chain: Chain) -> None:
    """A change whose hash was recomputed (without the server key) fails the entry's mac."""
    entry = await _row(chain, 6)
    forged = msgspec.structs.replace(entry, outcome="denied")
    digest = entry_hash(forged.prev_hash, canonical(forged))
    await chain.execute(
        f"UPDATE audit_log SET outcome = 'denied', hash = {chain.p(1)} WHERE seq = {chain.p(2)}", (digest, 6)
    )
    await _check(chain, 6, "forged")


async def test_deleted_entry_is_named(chain: Chain) -> None:
    """A deleted entry leaves a gap: verify names the missing seq."""
    await chain.execute(f"DELETE FROM audit_log WHERE seq = {chain.p(1)}", (5,))
    await _check(chain, 5, "missing")


async def test_deleted_last_entries_are_named(chain: Chain) -> None:
    """Deleting the newest entries is caught by the chain head: verify names the first one removed."""
    await chain.execute(f"DELETE FROM audit_log WHERE seq >= {chain.p(1)}", (9,))
    await _check(chain, 9, "missing")


async def test_inserted_entry_is_named(chain: Chain) -> None:
    """An entry slipped in between (later ones renumbered) breaks the chain at the insertion point."""
    entry = await _row(chain, 7)
    for seq in range(ENTRIES, 6, -1):  # make room at 7, from the top so the primary key never collides
        await chain.execute(f"UPDATE audit_log SET seq = seq + 1 WHERE seq = {chain.p(1)}", (seq,))
    fake = msgspec.structs.replace(entry, action="admin.login", actor="user:usr_intruder")
    fake = msgspec.structs.replace(fake, hash=entry_hash(fake.prev_hash, canonical(fake)))
    columns = [f.name for f in msgspec.structs.fields(AuditEntry)]
    values = [
        msgspec.json.encode(fake.details).decode() if c == "details" else getattr(fake, c) for c in columns
    ]
    marks = ", ".join(chain.p(i) for i in range(1, len(columns) + 1))
    await chain.execute(f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({marks})", tuple(values))
    await _check(chain, 7, "forged")


async def test_appended_entry_is_named(chain: Chain) -> None:
    """An entry added after the head, chained correctly but without the key, is caught."""
    last = await _row(chain, ENTRIES)
    fake = AuditEntry(
        seq=ENTRIES + 1,
        time=time.time(),
        tenant="default",
        actor="user:usr_intruder",
        action="admin.create_key",
        resource="/admin/keys",
        outcome="ok",
        details={},
        prev_hash=last.hash,
        hash="",
        mac="0" * 64,
    )
    fake = msgspec.structs.replace(fake, hash=entry_hash(fake.prev_hash, canonical(fake)))
    columns = [f.name for f in msgspec.structs.fields(AuditEntry)]
    values = [
        msgspec.json.encode(fake.details).decode() if c == "details" else getattr(fake, c) for c in columns
    ]
    marks = ", ".join(chain.p(i) for i in range(1, len(columns) + 1))
    await chain.execute(f"INSERT INTO audit_log ({', '.join(columns)}) VALUES ({marks})", tuple(values))
    await _check(chain, ENTRIES + 1, "forged")


async def test_reordered_entries_are_named(chain: Chain) -> None:
    """Two entries swapped (their seqs exchanged) break the chain at the first of them."""
    await chain.execute(f"UPDATE audit_log SET seq = -3 WHERE seq = {chain.p(1)}", (3,))
    await chain.execute(f"UPDATE audit_log SET seq = 3 WHERE seq = {chain.p(1)}", (4,))
    await chain.execute(f"UPDATE audit_log SET seq = 4 WHERE seq = {chain.p(1)}", (-3,))
    await _check(chain, 3, "prev_hash")


async def test_rewritten_chain_is_caught_by_an_exported_checkpoint(chain: Chain, tmp_path: Path) -> None:
    """Someone who rewrites the whole chain with the stored key is still caught by a checkpoint kept elsewhere."""
    kept = tmp_path / "checkpoints.jsonl"
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "podium", "audit", "checkpoint", *chain.args, "--output", str(kept)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    public_key = msgspec.json.decode(kept.read_text().splitlines()[0])["public_key"]
    # The attacker drops the stored checkpoints and re-chains every entry from 3 on with the stored key.
    await chain.execute("DELETE FROM audit_checkpoints", ())
    rows = await chain.fetch("SELECT name, value FROM meta WHERE name = 'audit_hmac_key'", ())
    import base64
    import hmac as hmac_mod

    key = base64.b64decode(rows[0][1])
    prev = (await _row(chain, 2)).hash
    for seq in range(3, ENTRIES + 1):
        entry = await _row(chain, seq)
        entry = msgspec.structs.replace(
            entry, prev_hash=prev, actor="key:key_innocent" if seq == 3 else entry.actor
        )
        digest = entry_hash(prev, canonical(entry))
        mac = hmac_mod.new(key, digest.encode(), "sha256").hexdigest()
        await chain.execute(
            f"UPDATE audit_log SET prev_hash = {chain.p(1)}, actor = {chain.p(2)}, hash = {chain.p(3)}, "
            f"mac = {chain.p(4)} WHERE seq = {chain.p(5)}",
            (prev, entry.actor, digest, mac, seq),
        )
        prev = digest
    await chain.execute(f"UPDATE audit_head SET hash = {chain.p(1)} WHERE id = 1", (prev,))
    assert (await asyncio.to_thread(verify, chain)).returncode == 0  # consistent without the kept checkpoint
    result = await asyncio.to_thread(verify, chain, "--checkpoints", str(kept), "--public-key", public_key)
    assert result.returncode == 1
    assert f"first bad entry is {ENTRIES}:" in result.stderr and "checkpoint" in result.stderr
