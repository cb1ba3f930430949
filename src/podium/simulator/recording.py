"""What the standalone simulator received: the last N requests, for tests to assert on.

A gateway test sends a request through Podium, then asks the simulator what reached the upstream:
was the e-mail address redacted, did the workflow step call the model exactly once, did Podium send
its credential. The ``Authorization`` value itself is never kept — only whether it was there and its
scheme — so a recording can be printed or attached to a bug report safely.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = ["RequestLog", "RequestRecord"]

_decode = msgspec.json.Decoder().decode


class RequestRecord(msgspec.Struct, kw_only=True):
    """One request as received. ``status`` is filled in once the answer's status is known."""

    seq: int
    time: float  # seconds since the epoch
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; ``authorization`` left out
    authorization_present: bool
    authorization_scheme: str | None  # "Bearer", "Basic", … when present
    model: str | None  # the body's ``model`` field, when it has one
    body: Any  # the JSON body, or its text when it is not JSON, or None when empty
    status: int | None = None


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:
        return raw.decode("utf-8", "replace")


class RequestLog:
    """The last ``limit`` requests in arrival order, and a count per model of every request seen."""

    __slots__ = ("_counts", "_records", "_seq")

    def __init__(self, limit: int = 1000) -> None:
        if limit < 0:
            raise ValueError("the request log's limit must be >= 0")
        self._records: deque[RequestRecord] = deque(maxlen=limit)
        self._counts: Counter[str] = Counter()
        self._seq = 0

    def add(
        self, *, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> RequestRecord:
        kept: dict[str, str] = {}
        scheme: str | None = None
        present = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == "authorization":
                present = True
                scheme = value.strip().split(" ", 1)[0] or None
                continue
            kept[lowered] = f"{kept[lowered]}, {value}" if lowered in kept else value
        decoded = _body(body)
        model = decoded.get("model") if isinstance(decoded, dict) else None
        self._seq += 1
        record = RequestRecord(
            seq=self._seq,
            time=time.time(),
            method=method,
            path=path,
            query=query,
            headers=kept,
            authorization_present=present,
            authorization_scheme=scheme,
            model=model if isinstance(model, str) else None,
            body=decoded,
        )
        self._records.append(record)
        self._counts[record.model or ""] += 1
        return record

    @property
    def records(self) -> list[RequestRecord]:
        """The kept records, oldest first."""
        return list(self._records)

    @property
    def counts(self) -> dict[str, int]:
        """Requests seen per model (``""`` for requests without one), including those no longer kept."""
        return dict(self._counts)

    @property
    def total(self) -> int:
        return self._seq

    def clear(self) -> None:
        self._records.clear()
        self._counts.clear()
        self._seq = 0

    def to_json(self) -> bytes:
        return msgspec.json.encode(list(self._records))
