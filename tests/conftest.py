from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leaks
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.sdk import SdkClients


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    """A Podium server on an ephemeral port with the simulated provider and SQLite storage."""
    gw = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def sdk() -> Iterator[SdkClients]:
    """SDK clients for servers other than a GatewayThread (which has its own: ``gw.openai()``)."""
    clients = SdkClients()
    try:
        yield clients
    finally:
        clients.close()


def pytest_configure(config: pytest.Config) -> None:
    leaks.install()


def pytest_collection_finish(session: pytest.Session) -> None:
    leaks.collect()  # freezes what imports and collection built, so it is not scanned per test


@pytest.fixture(autouse=True)
def _no_leaks_past_teardown() -> Iterator[None]:
    """A test fails at its own teardown if it left an HTTP client open or a resource to the collector.

    A client, socket or file a test forgot to close often sits in a reference cycle, so it is only
    finalized at some later, random garbage collection; its ResourceWarning (an error here) then
    fails whichever test happens to be running. So the collector runs now: any such leak warns in
    this test, and an httpx2 client (the SDKs' too) it finds still open is named. Autouse in
    the root conftest, so it runs after the test's own fixtures are torn down (servers stopped,
    clients closed). Cheap because long-lived objects are frozen out of the scans (``leaks.collect``).
    """
    yield
    if sites := leaks.collect_leaked():
        pytest.fail(
            "HTTP clients dropped unclosed (use `with`, gw.openai() or the sdk fixture): " + ", ".join(sites)
        )
