"""Shared state in this process: right for one replica, and what every request uses by default.

The same semantics as the Redis backend (sliding windows in slots, periods, expiring leases, values
with a TTL), with plain dicts. Values are bounded: the least recently used are dropped first, so a
busy cache cannot grow without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Sequence

from podium.state.base import (
    Adjust,
    Admission,
    Append,
    Counter,
    Op,
    Put,
    Release,
    Renew,
)

__all__ = ["MemoryState"]


def _now_ms() -> int:
    return int(time.time() * 1000)


class MemoryState:
    """Counters, leases, values and logs in dicts of this process."""

    def __init__(self, *, max_values: int = 10_000, max_value_bytes: int = 256 * 1024 * 1024) -> None:
        self._windows: dict[str, dict[int, float]] = {}
        self._periods: dict[str, tuple[float, int]] = {}  # key -> (value, expires_at_ms)
        self._leases: dict[str, dict[str, int]] = {}  # key -> lease id -> expires_at_ms
        self._values: OrderedDict[str, tuple[bytes, int]] = OrderedDict()  # key -> (value, expires_at_ms)
        self._value_bytes = 0
        self._max_values = max_values
        self._max_value_bytes = max_value_bytes
        self._logs: dict[str, tuple[deque[tuple[int, bytes]], list[int]]] = {}

    @property
    def available(self) -> bool:
        return True

    @property
    def description(self) -> str:
        return "in process"

    # ------------------------------------------------------------------ counters

    def _window_usage(
        self, key: str, c_window_ms: int, slots: int, now: int
    ) -> tuple[float, int, dict[int, float]]:
        slot_ms = c_window_ms / slots
        current = int(now // slot_ms)
        oldest = current - slots + 1
        buckets = self._windows.get(key)
        if buckets is None:
            return 0.0, current, {}
        for slot in [s for s in buckets if s < oldest]:
            del buckets[slot]
        return sum(buckets.values()), current, buckets

    def _retry_window(self, buckets: dict[int, float], used: float, c: Counter, now: int) -> float | None:
        if c.cost > c.limit:
            return None
        slot_ms = c.window_ms / c.slots
        need = used + c.cost - c.limit
        freed = 0.0
        for slot in sorted(buckets):
            freed += buckets[slot]
            if freed >= need:
                return max(0.0, ((slot + c.slots) * slot_ms - now) / 1000)
        return c.window_ms / 1000

    def _lease_usage(self, key: str, now: int) -> int:
        leases = self._leases.get(key)
        if not leases:
            return 0
        for lease_id in [i for i, exp in leases.items() if exp <= now]:
            del leases[lease_id]
        return len(leases)

    def _period_usage(self, key: str, now: int) -> float:
        entry = self._periods.get(key)
        if entry is None:
            return 0.0
        if entry[1] <= now:
            del self._periods[key]
            return 0.0
        return entry[0]

    async def admit(self, counters: Sequence[Counter], prefetch: Sequence[str] = ()) -> Admission:
        now = _now_ms()
        values = tuple(self._get(k, now) for k in prefetch)
        slots: list[int] = []
        for i, c in enumerate(counters):
            if c.kind == "window":
                used, current, buckets = self._window_usage(c.key, c.window_ms, c.slots, now)
                slots.append(current)
                if used + c.cost > c.limit or (c.cost == 0 and used >= c.limit):
                    retry = self._retry_window(buckets, used, c, now)
                    return Admission(allowed=False, now_ms=now, failed=i, retry_after=retry, values=values)
            elif c.kind == "period":
                slots.append(0)
                used = self._period_usage(c.key, now)
                if used + c.cost > c.limit or (c.cost == 0 and used >= c.limit):
                    retry = None if c.cost > c.limit else c.window_ms / 1000
                    return Admission(allowed=False, now_ms=now, failed=i, retry_after=retry, values=values)
            else:
                slots.append(0)
                if self._lease_usage(c.key, now) + 1 > c.limit:
                    retry = None if c.limit < 1 else 0.0
                    return Admission(allowed=False, now_ms=now, failed=i, retry_after=retry, values=values)
        for c, current in zip(counters, slots, strict=True):
            if c.kind == "window":
                buckets = self._windows.setdefault(c.key, {})
                buckets[current] = buckets.get(current, 0.0) + c.cost
            elif c.kind == "period":
                if c.cost:
                    self._add_period(c.key, c.cost, c.window_ms, now)
            else:
                self._leases.setdefault(c.key, {})[c.lease_id] = now + c.window_ms
        return Admission(allowed=True, now_ms=now, values=values)

    def _add_period(self, key: str, amount: float, window_ms: int, now: int) -> None:
        value = self._period_usage(key, now)
        self._periods[key] = (value + amount, now + window_ms)

    # ------------------------------------------------------------------ values

    def _get(self, key: str, now: int) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            self._drop(key)
            return None
        self._values.move_to_end(key)
        return entry[0]

    def _drop(self, key: str) -> None:
        value, _ = self._values.pop(key)
        self._value_bytes -= len(value)

    async def get(self, key: str) -> bytes | None:
        return self._get(key, _now_ms())

    def _put(self, key: str, value: bytes, ttl_ms: int, now: int) -> None:
        if key in self._values:
            self._drop(key)
        if len(value) > self._max_value_bytes:
            return
        self._values[key] = (value, now + ttl_ms)
        self._value_bytes += len(value)
        while len(self._values) > self._max_values or self._value_bytes > self._max_value_bytes:
            self._drop(next(iter(self._values)))

    # ------------------------------------------------------------------ logs

    async def read_log(self, name: str, after: str) -> tuple[list[bytes], str]:
        log = self._logs.get(name)
        if log is None:
            return [], after
        entries, _ = log
        start = int(after) if after else 0
        found = [(seq, entry) for seq, entry in entries if seq > start]
        if not found:
            return [], after
        return [e for _, e in found], str(found[-1][0])

    def _append(self, op: Append) -> None:
        entries, counter = self._logs.setdefault(op.name, (deque(), [0]))
        counter[0] += 1
        entries.append((counter[0], op.entry))
        while len(entries) > op.max_len:
            entries.popleft()

    # ------------------------------------------------------------------ write-behind

    def submit(self, ops: Sequence[Op]) -> None:
        now = _now_ms()
        for op in ops:
            if isinstance(op, Adjust):
                if op.kind == "window":
                    slot = int(op.at_ms // (op.window_ms / op.slots))
                    buckets = self._windows.setdefault(op.key, {})
                    buckets[slot] = buckets.get(slot, 0.0) + op.amount
                else:
                    self._add_period(op.key, op.amount, op.window_ms, now)
            elif isinstance(op, Release):
                leases = self._leases.get(op.key)
                if leases is not None:
                    leases.pop(op.lease_id, None)
            elif isinstance(op, Renew):
                leases = self._leases.get(op.key)
                if leases is not None and op.lease_id in leases:
                    leases[op.lease_id] = now + op.lease_ms
            elif isinstance(op, Put):
                self._put(op.key, op.value, op.ttl_ms, now)
            else:
                self._append(op)

    async def flush(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
