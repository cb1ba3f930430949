"""The audit chain in the SQLite file. Appends hold the file's write lock (BEGIN IMMEDIATE) from
reading the head to moving it, so processes sharing the file take turns and the chain never forks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from podium.audit.chain import canonical_details, seal
from podium.storage.audit_records import AuditCheckpoint, AuditEntry, AuditEvent

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["ENTRY_COLUMNS", "SQLiteAuditStore", "entry_from_row", "entry_row"]

ENTRY_COLUMNS = tuple(f.name for f in msgspec.structs.fields(AuditEntry))
CHECKPOINT_COLUMNS = tuple(f.name for f in msgspec.structs.fields(AuditCheckpoint))
_SELECT = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM audit_log"


def entry_row(entry: AuditEntry) -> list[Any]:
    fields = msgspec.structs.asdict(entry)
    fields["details"] = canonical_details(entry.details)
    return [fields[c] for c in ENTRY_COLUMNS]


def entry_from_row(row: Sequence[Any]) -> AuditEntry:
    fields = dict(zip(ENTRY_COLUMNS, row, strict=True))
    fields["details"] = msgspec.json.decode(fields["details"])
    return msgspec.convert(fields, AuditEntry)


class SQLiteAuditStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def append(self, events: list[AuditEvent], *, key: bytes) -> list[AuditEntry]:
        if not events:
            return []
        entries: list[AuditEntry] = []
        insert = f"INSERT INTO audit_log ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"
        async with self._db.transaction() as conn:
            rows = list(await conn.execute_fetchall("SELECT seq, hash FROM audit_head WHERE id = 1"))
            seq, prev = int(rows[0][0]), str(rows[0][1])
            for event in events:
                seq += 1
                entry = seal(event, seq=seq, prev_hash=prev, key=key)
                entries.append(entry)
                prev = entry.hash
            await conn.executemany(insert, [entry_row(e) for e in entries])
            await conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
        return entries

    async def head(self) -> tuple[int, str]:
        rows = await self._db.fetch("SELECT seq, hash FROM audit_head WHERE id = 1")
        return int(rows[0][0]), str(rows[0][1])

    async def read(self, *, after: int = 0, limit: int = 1000, tenant: str | None = None) -> list[AuditEntry]:
        where, args = "seq > ?", [after]
        if tenant is not None:
            where += " AND tenant = ?"
            args.append(tenant)  # type: ignore[arg-type]
        rows = await self._db.fetch(f"{_SELECT} WHERE {where} ORDER BY seq LIMIT ?", [*args, limit])
        return [entry_from_row(r) for r in rows]

    async def recent(
        self, *, tenant: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        clauses: list[str] = []
        args: list[Any] = []
        if tenant is not None:
            clauses.append("tenant = ?")
            args.append(tenant)
        if before is not None:
            clauses.append("seq < ?")
            args.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(f"{_SELECT}{where} ORDER BY seq DESC LIMIT ?", [*args, limit])
        return [entry_from_row(r) for r in rows]

    async def add_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        fields = msgspec.structs.asdict(checkpoint)
        sql = (
            f"INSERT INTO audit_checkpoints ({', '.join(CHECKPOINT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(CHECKPOINT_COLUMNS))}) ON CONFLICT (seq) DO NOTHING"
        )
        async with (
            self._db.transaction() as conn,
            conn.execute(sql, [fields[c] for c in CHECKPOINT_COLUMNS]) as cur,
        ):
            return cur.rowcount == 1

    async def checkpoints(self) -> list[AuditCheckpoint]:
        rows = await self._db.fetch(
            f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints ORDER BY seq"
        )
        return [msgspec.convert(dict(zip(CHECKPOINT_COLUMNS, r, strict=True)), AuditCheckpoint) for r in rows]
