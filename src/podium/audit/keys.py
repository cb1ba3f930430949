"""The audit trail's two keys, resolved the same way by every replica and by the CLI.

* the **server key** (HMAC of every entry): ``audit.key`` from the configuration, else generated once
  into storage (meta ``audit_hmac_key``);
* the **signing key** (Ed25519, checkpoints): ``audit.signing_key`` (base64 of 32 bytes), else
  generated once into storage (meta ``audit_signing_key``).
"""

from __future__ import annotations

import base64

from podium.audit.checkpoints import Signer
from podium.config.governance import AuditSettings
from podium.server_keys import server_secret
from podium.storage.base import MetaStore

__all__ = ["HMAC_KEY_NAME", "SIGNING_KEY_NAME", "audit_keys"]

HMAC_KEY_NAME = "audit_hmac_key"
SIGNING_KEY_NAME = "audit_signing_key"


async def audit_keys(meta: MetaStore, settings: AuditSettings) -> tuple[bytes, Signer]:
    hmac_key = await server_secret(meta, HMAC_KEY_NAME, settings.key)
    if settings.signing_key:
        private = base64.b64decode(settings.signing_key)
    else:
        private = await server_secret(meta, SIGNING_KEY_NAME, None)
    return hmac_key, Signer(private)
