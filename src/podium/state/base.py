"""The shared-state contract: fast counters, leases and cached values that every replica sees.

Two backends implement it: :mod:`podium.state.memory` (one process, the default) and
:mod:`podium.state.redis` (many replicas sharing Redis or Valkey). ``tests/state`` runs one
conformance suite against both.

The request path makes at most one call that waits: :meth:`SharedState.admit`, which checks every
limit that applies to a request and counts it against all of them atomically (in Redis, one Lua
script: one round trip), and in the same call reads the values named in ``prefetch`` (the exact
cache's entry). Everything that happens after a call — reconciling estimates, releasing leases,
storing a cached answer — is a :data:`Op` handed to :meth:`SharedState.submit`, which never waits:
the Redis backend writes pending ops in one pipelined round trip, in the background.

Errors: a backend that cannot be reached raises :class:`StateUnavailable` from the calls that wait,
and drops the ops submitted while it is down; what to do about it (admit or refuse) is the caller's
policy (``state.on_unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from podium.errors import PodiumError

__all__ = [
    "Adjust",
    "Admission",
    "Append",
    "Counter",
    "Op",
    "Put",
    "Release",
    "Renew",
    "SharedState",
    "StateUnavailable",
]


class StateUnavailable(PodiumError):
    """The shared state (Redis) cannot be reached; the message names it (never with its password)."""

    status = 503
    code = "state_unavailable"


CounterKind = Literal["window", "period", "lease"]


@dataclass(frozen=True, slots=True)
class Counter:
    """One limit to check and count in an admission.

    * ``window``: a sliding window of ``window_ms`` split into ``slots`` slots; ``cost`` is added to
      the current slot. Usage is the sum of the slots inside the window.
    * ``period``: a plain counter that lives ``window_ms`` more (a calendar day or month, named by
      the key); retry after ``window_ms``. With ``cost`` 0 it admits while usage is below ``limit``.
    * ``lease``: a set of leases that expire ``window_ms`` after they were taken or renewed;
      ``lease_id`` names the one this admission takes. Usage is the number of live leases.

    A request is admitted when, for every counter, ``usage + cost <= limit`` (``usage < limit`` when
    ``cost`` is 0).
    """

    key: str
    kind: CounterKind
    limit: float
    cost: float
    window_ms: int
    slots: int = 1
    lease_id: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    """What :meth:`SharedState.admit` decided.

    ``failed`` is the index of the first counter that refused (``-1`` when admitted);
    ``retry_after`` the seconds until it would admit again: ``0.0`` when unknown (a lease), ``None``
    when never (the cost alone exceeds the limit). ``now_ms`` is the backend's clock at the
    decision, which adjustments of window counters refer to. ``values`` are the prefetched values,
    in the order asked (``None`` for a missing one), read whether or not the request was admitted.
    """

    allowed: bool
    now_ms: int
    failed: int = -1
    retry_after: float | None = 0.0
    values: tuple[bytes | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Adjust:
    """Add ``amount`` (negative to refund) to a counter: to the window slot that held ``at_ms``, or to
    a period counter (which then lives ``window_ms`` more)."""

    key: str
    kind: Literal["window", "period"]
    amount: float
    window_ms: int
    slots: int = 1
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Release:
    key: str
    lease_id: str


@dataclass(frozen=True, slots=True)
class Renew:
    """Push a live lease's expiry to ``lease_ms`` from now (a long stream keeps its slot)."""

    key: str
    lease_id: str
    lease_ms: int


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Append:
    """Add ``entry`` to the log ``name``, which keeps about its last ``max_len`` entries."""

    name: str
    entry: bytes
    max_len: int


Op = Adjust | Release | Renew | Put | Append


class SharedState(Protocol):
    @property
    def available(self) -> bool:
        """Whether the backend answered its last call (or probe)."""
        ...

    @property
    def description(self) -> str:
        """Where the state lives, for logs and ``/readyz`` ("in process", "Redis at host:6379/0")."""
        ...

    async def admit(self, counters: Sequence[Counter], prefetch: Sequence[str] = ()) -> Admission:
        """Check every counter and, only if all admit, count the request against all of them, atomically."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def read_log(self, name: str, after: str) -> tuple[list[bytes], str]:
        """Entries of log ``name`` appended after the position ``after`` ("" for the start), and the
        position after the last one returned."""
        ...

    def submit(self, ops: Sequence[Op]) -> None:
        """Apply ``ops`` soon, in order, without waiting; never raises."""
        ...

    async def flush(self) -> None:
        """Wait until every op submitted so far has been applied (or dropped, when unavailable)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
