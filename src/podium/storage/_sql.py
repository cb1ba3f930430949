"""What the two SQL backends share: migration files, record columns, filters and the page cursor.

Placeholders differ (``?1`` in SQLite, ``$1`` in PostgreSQL) and both number them, so SQL is built
once here with the backend's ``mark``.
"""

from __future__ import annotations

import base64
import binascii
import importlib.resources
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from podium.errors import RequestError
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord

KEY_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(KeyRecord))
REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(RequestRecord))
MAX_PAGE = 1000

MIGRATIONS_TABLE = "schema_migrations"


def migrations(dialect: Literal["sqlite", "postgres"]) -> list[tuple[int, str]]:
    """Every migration of ``dialect`` as (number, SQL) in order; the number is the file name's prefix."""
    folder = importlib.resources.files("podium.storage") / "migrations" / dialect
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number = int(entry.name.split("_", 1)[0])
        if number in found:  # two files with one number would apply in an arbitrary order
            raise RuntimeError(f"two {dialect} migrations are numbered {number}")
        found[number] = entry.read_text(encoding="utf-8")
    return sorted(found.items())


def placeholders(mark: str, count: int, start: int = 1) -> list[str]:
    return [f"{mark}{i}" for i in range(start, start + count)]


def insert_requests_sql(mark: str) -> str:
    """The batch insert; a known id is skipped, so a retried batch never doubles rows."""
    # ON CONFLICT (id), not INSERT OR IGNORE: SQLite's OR IGNORE would also silently drop a row that
    # breaks NOT NULL, and a refused record must fail its whole batch.
    values = ", ".join(placeholders(mark, len(REQUEST_COLUMNS)))
    return (
        f"INSERT INTO request_log ({', '.join(REQUEST_COLUMNS)}) VALUES ({values}) "
        "ON CONFLICT (id) DO NOTHING"
    )


_GUARDRAILS = REQUEST_COLUMNS.index("guardrails")  # verdicts: JSON text (SQLite) or jsonb (PostgreSQL)


def request_rows(records: Iterable[RequestRecord]) -> list[tuple[Any, ...]]:
    rows = []
    for r in records:
        row = msgspec.structs.astuple(r)
        if r.guardrails:
            row = (*row[:_GUARDRAILS], msgspec.json.encode(r.guardrails).decode(), *row[_GUARDRAILS + 1 :])
        else:
            row = (*row[:_GUARDRAILS], None, *row[_GUARDRAILS + 1 :])
        rows.append(row)
    return rows


def request_from_row(row: Sequence[Any]) -> RequestRecord:
    fields = dict(zip(REQUEST_COLUMNS, row, strict=True))
    verdicts = fields.pop("guardrails")
    if verdicts is not None:
        fields["guardrails"] = msgspec.json.decode(verdicts)
    # strict=False turns SQLite's 0/1 back into booleans; PostgreSQL rows are already typed.
    return msgspec.convert(fields, RequestRecord, strict=False)


def select_requests_sql(query: RequestQuery, mark: str) -> tuple[str, list[Any]]:
    """The page query for ``query``: one row more than the page, to know whether another follows."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"{mark}{len(args)}"

    for column, value in (
        ("key_id", query.key_id),
        ("tenant", query.tenant),
        ("requested_model", query.model),
        ("deployment", query.deployment),
        ("status", query.status),
        ("guardrail_action", query.guardrail_action),
    ):
        if value is not None:
            clauses.append(f"{column} = {arg(value)}")
    if query.errors_only:
        clauses.append("status >= 400")
    if query.since is not None:
        clauses.append(f"created_at >= {arg(query.since)}")
    if query.until is not None:
        clauses.append(f"created_at < {arg(query.until)}")
    if query.cursor is not None:
        created_at, request_id = decode_cursor(query.cursor)
        # A row value comparison walks the (created_at, id) index from the cursor on.
        clauses.append(f"(created_at, id) < ({arg(created_at)}, {arg(request_id)})")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {', '.join(REQUEST_COLUMNS)} FROM request_log{where} "
        f"ORDER BY created_at DESC, id DESC LIMIT {arg(page_size(query) + 1)}"
    )
    return sql, args


def page_size(query: RequestQuery) -> int:
    return min(max(query.limit, 1), MAX_PAGE)


def request_page(records: list[RequestRecord], query: RequestQuery) -> RequestPage:
    """A page from up to ``page_size + 1`` records; the extra one only says that a next page exists."""
    size = page_size(query)
    if len(records) <= size:
        return RequestPage(items=tuple(records))
    items = tuple(records[:size])
    return RequestPage(items=items, next_cursor=encode_cursor(items[-1]))


def encode_cursor(record: RequestRecord) -> str:
    # JSON keeps the float exact (shortest round-trip repr), so the next page starts precisely after it.
    raw = msgspec.json.encode((record.created_at, record.id))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=tuple[float, str])
    except (binascii.Error, ValueError, msgspec.DecodeError) as e:
        raise RequestError("invalid cursor: pass the next_cursor of a previous page", param="cursor") from e
