"""Run as a separate process: append N audit events in small batches, as one replica would."""

from __future__ import annotations

import asyncio
import sys

from podium.audit.keys import audit_keys
from podium.config.governance import AuditSettings
from podium.storage import open_storage
from podium.storage.audit_records import AuditEvent


async def main(url: str, name: str, count: int) -> None:
    storage = await open_storage(url, pool_size=2)
    try:
        key, _ = await audit_keys(storage.meta, AuditSettings())
        for start in range(0, count, 5):
            batch = [
                AuditEvent(
                    time=float(n),
                    tenant="default",
                    actor=f"replica:{name}",
                    action="test.append",
                    details={"n": n},
                )
                for n in range(start, min(start + 5, count))
            ]
            await storage.audit.append(batch, key=key)
    finally:
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
