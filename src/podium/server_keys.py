"""Server secrets that every replica must share: from the configuration, or generated once into storage.

A configured value (an ``${ENV}`` reference in ``podium.yaml``) wins. Without one, the first process
to start generates 32 random bytes and stores them in the meta table (``set_if_absent``, so replicas
starting together agree on one); everyone else reads that value. Keeping a secret next to the data
it protects is weaker than keeping it elsewhere — docs/audit.md says what each choice defends against.
"""

from __future__ import annotations

import base64
import os

from podium.storage.base import MetaStore

__all__ = ["server_secret"]


async def server_secret(meta: MetaStore, name: str, configured: str | None) -> bytes:
    """The secret called ``name``: ``configured`` (its UTF-8 bytes) or the one stored for every replica."""
    if configured:
        return configured.encode()
    stored = await meta.get(name)
    if stored is None:
        await meta.set_if_absent(name, base64.b64encode(os.urandom(32)).decode())
        stored = await meta.get(name)
    assert stored is not None
    return base64.b64decode(stored)
