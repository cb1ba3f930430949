"""The audit trail as storage holds it: events before they are chained, entries after."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["AuditCheckpoint", "AuditEntry", "AuditEvent"]


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something to record: who did what to which resource, when, and how it ended."""

    time: float  # epoch seconds when it happened (not when it was appended)
    tenant: str
    actor: str  # "key:key_…", "user:usr_…", "oidc:alice@example.com", "cli:root", "anonymous"
    action: str  # "keys.create", "model.call", "auth.denied", …
    resource: str = ""  # "/admin/keys/key_…", "model:sim/echo"
    outcome: str = "ok"  # "ok", "denied", "error", or an HTTP status for model calls
    details: dict[str, Any] = {}


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An event in the chain: ``hash = H(prev_hash || canonical(entry))``, ``mac = HMAC(key, hash)``."""

    seq: int  # 1, 2, 3… with no gaps: a missing number is a deleted entry
    time: float
    tenant: str
    actor: str
    action: str
    resource: str
    outcome: str
    details: dict[str, Any]
    prev_hash: str  # hex; the previous entry's hash ("0" * 64 before the first)
    hash: str  # hex SHA-256
    mac: str  # hex HMAC-SHA256 of the hash with the server key
    version: int = 1


class AuditCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement that the chain had entry ``seq`` with ``hash`` at ``time``; keep copies elsewhere."""

    seq: int
    hash: str
    time: float
    key_id: str  # hex SHA-256 of the public key, first 16 chars
    public_key: str  # base64 raw Ed25519 public key
    signature: str  # base64 Ed25519 signature of the canonical statement
    version: int = 1
