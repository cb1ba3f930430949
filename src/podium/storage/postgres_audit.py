"""The audit chain in PostgreSQL. Each append locks the one chain-head row (``SELECT … FOR UPDATE``)
and moves it in the same transaction as its inserts: replicas appending at once take turns on that
row, so seqs stay consecutive and the chain never forks."""

from __future__ import annotations

from typing import Any

import msgspec

from podium.audit.chain import seal
from podium.storage.audit_records import AuditCheckpoint, AuditEntry, AuditEvent
from podium.storage.sqlite_audit import CHECKPOINT_COLUMNS, ENTRY_COLUMNS, entry_from_row, entry_row

__all__ = ["PostgresAuditStore"]

_SELECT = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM audit_log"
_INSERT = (
    f"INSERT INTO audit_log ({', '.join(ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(ENTRY_COLUMNS) + 1))})"
)


class PostgresAuditStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def append(self, events: list[AuditEvent], *, key: bytes) -> list[AuditEntry]:
        if not events:
            return []
        entries: list[AuditEntry] = []
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
            seq, prev = int(row["seq"]), str(row["hash"])
            for event in events:
                seq += 1
                entry = seal(event, seq=seq, prev_hash=prev, key=key)
                entries.append(entry)
                prev = entry.hash
            await conn.executemany(_INSERT, [entry_row(e) for e in entries])
            await conn.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev)
        return entries

    async def head(self) -> tuple[int, str]:
        row = await self._pool.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1")
        return int(row["seq"]), str(row["hash"])

    async def read(self, *, after: int = 0, limit: int = 1000, tenant: str | None = None) -> list[AuditEntry]:
        if tenant is None:
            rows = await self._pool.fetch(f"{_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
        else:
            rows = await self._pool.fetch(
                f"{_SELECT} WHERE seq > $1 AND tenant = $3 ORDER BY seq LIMIT $2", after, limit, tenant
            )
        return [entry_from_row(r) for r in rows]

    async def recent(
        self, *, tenant: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        clauses: list[str] = []
        args: list[Any] = [limit]
        if tenant is not None:
            args.append(tenant)
            clauses.append(f"tenant = ${len(args)}")
        if before is not None:
            args.append(before)
            clauses.append(f"seq < ${len(args)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._pool.fetch(f"{_SELECT}{where} ORDER BY seq DESC LIMIT $1", *args)
        return [entry_from_row(r) for r in rows]

    async def add_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        fields = msgspec.structs.asdict(checkpoint)
        marks = ", ".join(f"${i}" for i in range(1, len(CHECKPOINT_COLUMNS) + 1))
        status = await self._pool.execute(
            f"INSERT INTO audit_checkpoints ({', '.join(CHECKPOINT_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (seq) DO NOTHING",
            *(fields[c] for c in CHECKPOINT_COLUMNS),
        )
        return bool(status == "INSERT 0 1")

    async def checkpoints(self) -> list[AuditCheckpoint]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints ORDER BY seq"
        )
        return [msgspec.convert(dict(zip(CHECKPOINT_COLUMNS, r, strict=True)), AuditCheckpoint) for r in rows]
