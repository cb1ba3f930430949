from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import GatewayThread, make_config, sqlite_url


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    """A Podium server on an ephemeral port with the simulated provider and SQLite storage."""
    gw = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield gw
    finally:
        gw.stop()
