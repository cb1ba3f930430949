"""Signed checkpoints: "the chain had entry N with hash H at time T", signed with Ed25519.

A checkpoint exported and kept elsewhere (a SIEM, a ticket, a WORM bucket) lets ``podium audit
verify --checkpoints FILE`` prove that nothing up to entry N was rewritten later — even by someone
who could write the database *and* read the HMAC key, since they cannot re-sign with a key they
do not have (keep ``audit.signing_key`` outside the database for that).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from podium.storage.audit_records import AuditCheckpoint
from podium.storage.base import AuditStore

__all__ = ["Checkpointer", "Signer", "statement", "verify_signature"]

log = logging.getLogger("podium.audit")


def statement(seq: int, digest: str, at: float) -> bytes:
    """The exact bytes a checkpoint signs."""
    return msgspec.json.encode(
        {"podium_audit_checkpoint": 1, "seq": seq, "hash": digest, "time": at}, order="sorted"
    )


class Signer:
    def __init__(self, private_key: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def checkpoint(self, seq: int, digest: str, at: float | None = None) -> AuditCheckpoint:
        at = at or time.time()
        signature = self._key.sign(statement(seq, digest, at))
        return AuditCheckpoint(
            seq=seq,
            hash=digest,
            time=at,
            key_id=self.key_id,
            public_key=self.public_key,
            signature=base64.b64encode(signature).decode(),
        )


def verify_signature(checkpoint: AuditCheckpoint, *, trusted_public_key: str | None = None) -> bool:
    """Whether the checkpoint is signed by its public key (or by ``trusted_public_key`` when given)."""
    public = trusted_public_key or checkpoint.public_key
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
        key.verify(
            base64.b64decode(checkpoint.signature),
            statement(checkpoint.seq, checkpoint.hash, checkpoint.time),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


async def make_checkpoint(store: AuditStore, signer: Signer) -> AuditCheckpoint | None:
    """Sign the current head and store it; ``None`` when the chain is empty or that seq has one already."""
    seq, digest = await store.head()
    if seq == 0:
        return None
    checkpoint = signer.checkpoint(seq, digest)
    return checkpoint if await store.add_checkpoint(checkpoint) else None


class Checkpointer:
    """Every ``interval`` seconds, sign the chain head (several replicas: one checkpoint per seq)."""

    def __init__(self, store: AuditStore, signer: Signer, interval: float) -> None:
        self._store = store
        self._signer = signer
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="podium-audit-checkpoints")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await make_checkpoint(self._store, self._signer)
            except Exception as exc:  # noqa: BLE001 - try again next interval
                log.warning("writing an audit checkpoint failed: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
