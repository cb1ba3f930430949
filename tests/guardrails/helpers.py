"""Helpers shared by the guardrail tests."""

from __future__ import annotations

import time
from typing import Any

from tests.harness import GatewayThread


def last_record(gw: GatewayThread, timeout: float = 5.0) -> Any:
    """The newest request record once the log has settled.

    The edge submits a call's record just after its response, so a test that reads the log right
    after a reply could see the previous call's record last; two equal counts 50 ms apart settle it.
    """
    deadline = time.monotonic() + timeout
    count = -1
    while True:
        records = gw.records()
        if records and (len(records) == count or time.monotonic() > deadline):
            return records[-1]
        count = len(records)
        time.sleep(0.05)
