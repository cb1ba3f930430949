"""Several processes appending to one audit chain at once (replicas): one unbroken chain results."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.audit.keys import audit_keys
from podium.audit.verify import entries, verify_chain
from podium.config.governance import AuditSettings
from podium.storage import open_storage
from tests.pg import fresh_schema

PER_PROCESS = 150


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'podium.db'}"
    else:
        async with fresh_schema() as found:
            yield found


async def test_two_processes_append_one_chain(url: str) -> None:
    """Two processes appending 150 events each at the same time leave 300 consecutive, verifiable entries."""
    storage = await open_storage(url)
    try:
        await storage.migrate()
        key, _ = await audit_keys(storage.meta, AuditSettings())  # both workers find this key
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.audit.append_worker",
                url,
                name,
                str(PER_PROCESS),
                stderr=subprocess.PIPE,
            )
            for name in ("a", "b")
        ]
        for proc in procs:
            _, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
        report = await verify_chain(storage.audit, key)
        assert report.ok, report.problem
        assert report.checked == report.head_seq == 2 * PER_PROCESS
        seen = [e async for e in entries(storage.audit)]
        assert [e.seq for e in seen] == list(range(1, 2 * PER_PROCESS + 1))
        # Nothing lost or doubled, and each process's own events keep their order.
        for name in ("a", "b"):
            mine = [e.details["n"] for e in seen if e.actor == f"replica:{name}"]
            assert mine == list(range(PER_PROCESS))
    finally:
        await storage.close()
