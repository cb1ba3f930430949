"""The hash chain: how an entry commits to the one before it, and how a chain is checked.

Each entry's hash is ``SHA-256(prev_hash || canonical(entry))`` where *canonical* is the entry's
fields (all but ``hash`` and ``mac``) as JSON with sorted keys and no spaces; its ``mac`` is
``HMAC-SHA256(server_key, hash)``. The first entry's ``prev_hash`` is 64 zeros.

Checking walks entries in ``seq`` order and reports the **first** bad one, naming what is wrong:

* a changed field → the recomputed hash differs;
* a changed field with the hash recomputed by someone without the key → the mac differs;
* a deleted entry → a gap in ``seq`` (or a head that is further than the last entry);
* an inserted entry → a ``prev_hash`` that is not the previous entry's hash, or a seq out of line;
* reordered entries → both of the above at the first moved entry.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import msgspec

from podium.storage.audit_records import AuditEntry, AuditEvent

__all__ = ["GENESIS", "ChainChecker", "Problem", "canonical", "entry_hash", "mac", "seal"]

GENESIS = "0" * 64

_encode = msgspec.json.Encoder(order="sorted").encode


def canonical(entry: AuditEntry | dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: every field but ``hash`` and ``mac``, keys sorted."""
    fields = msgspec.structs.asdict(entry) if isinstance(entry, AuditEntry) else dict(entry)
    fields.pop("hash", None)
    fields.pop("mac", None)
    return _encode(fields)


def canonical_details(details: dict[str, Any]) -> str:
    """How ``details`` is stored: the same canonical JSON, so reading it back hashes the same."""
    return _encode(details).decode()


def entry_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def seal(event: AuditEvent, *, seq: int, prev_hash: str, key: bytes) -> AuditEntry:
    """Turn an event into the chain's next entry after ``prev_hash``."""
    # Details go through JSON once, so what is hashed is exactly what storage gives back.
    details = msgspec.json.decode(_encode(event.details))
    unsealed = AuditEntry(
        seq=seq,
        time=event.time,
        tenant=event.tenant,
        actor=event.actor,
        action=event.action,
        resource=event.resource,
        outcome=event.outcome,
        details=details,
        prev_hash=prev_hash,
        hash="",
        mac="",
    )
    digest = entry_hash(prev_hash, canonical(unsealed))
    return msgspec.structs.replace(unsealed, hash=digest, mac=mac(key, digest))


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int  # the first bad entry's number
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


class ChainChecker:
    """Feed entries in ``seq`` order; the first problem found is kept and checking stops."""

    def __init__(self, key: bytes | None, *, start_seq: int = 1, start_hash: str = GENESIS) -> None:
        self._key = key
        self.expected_seq = start_seq
        self.prev_hash = start_hash
        self.checked = 0
        self.problem: Problem | None = None
        self.hashes: dict[int, str] = {}  # only those asked for by ``want`` (checkpoints)
        self._want: set[int] = set()

    def want(self, seqs: set[int]) -> None:
        self._want = seqs

    def feed(self, entry: AuditEntry) -> bool:
        """Check one entry; ``False`` once a problem is found."""
        if self.problem is not None:
            return False
        expected = self.expected_seq
        if entry.seq > expected:
            missing = f"{expected}" if entry.seq == expected + 1 else f"{expected}-{entry.seq - 1}"
            return self._fail(
                expected,
                f"missing (deleted?): entry {entry.seq} follows entry {expected - 1}; {missing} absent",
            )
        if entry.seq < expected:
            return self._fail(entry.seq, f"out of order or duplicated: seen after entry {expected - 1}")
        if entry.prev_hash != self.prev_hash:
            return self._fail(
                entry.seq,
                "prev_hash does not match the previous entry's hash (inserted, reordered or the previous one replaced)",
            )
        recomputed = entry_hash(entry.prev_hash, canonical(entry))
        if recomputed != entry.hash:
            return self._fail(entry.seq, "modified: its content does not match its hash")
        if self._key is not None and not hmac.compare_digest(mac(self._key, entry.hash), entry.mac):
            return self._fail(entry.seq, "forged: the hash is not authenticated by the server key")
        if entry.seq in self._want:
            self.hashes[entry.seq] = entry.hash
        self.prev_hash = entry.hash
        self.expected_seq = entry.seq + 1
        self.checked += 1
        return True

    def finish(self, head_seq: int | None) -> Problem | None:
        """After the last entry: the recorded chain head must be the last entry seen (else: truncated)."""
        if self.problem is None and head_seq is not None:
            last = self.expected_seq - 1
            if head_seq > last:
                self._fail(
                    last + 1,
                    f"missing (deleted?): the chain head is entry {head_seq} but the log ends at {last}",
                )
            elif head_seq < last:
                self._fail(
                    head_seq + 1,
                    f"inserted: the chain head is entry {head_seq} but entries continue to {last}",
                )
        return self.problem

    def _fail(self, seq: int, reason: str) -> bool:
        self.problem = Problem(seq, reason)
        return False
