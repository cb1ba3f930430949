"""A running step's record, written only if the step lasts (docs/decisions/0059-checkpoint-cost.md).

The record of a step that is under way is for people watching the run and for counting attempts
across crashes; finished steps are never re-run because of the *final* checkpoint alone. So the
running record is written in the background after a short delay, and a step that ends first writes
its start and end together in its final checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from podium.storage.workflow_records import RunEvent, StepRecord

__all__ = ["RUNNING_RECORD_AFTER_S", "EarlyCheckpoint"]

Write = Callable[[StepRecord | None, list[RunEvent], float], Awaitable[None]]

RUNNING_RECORD_AFTER_S = 0.02  # a step still running after this has its "running" record written


class EarlyCheckpoint:
    """A running step's checkpoint, written after a short delay unless the step's end comes first."""

    def __init__(self, write: Write, step: StepRecord, events: list[RunEvent]) -> None:
        self._write = write
        self.step = step
        self.events = events
        self.writing = False
        self.task = asyncio.ensure_future(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(RUNNING_RECORD_AFTER_S)
        self.writing = True
        await self._write(self.step, self.events, 0.0)

    async def merge(self) -> list[RunEvent]:
        """The events still to write with the step's next checkpoint (none if already written)."""
        if self.writing:
            await self.task
            return []
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self.events

    async def land(self) -> None:
        events = await self.merge()
        if events:
            await self._write(self.step, events, 0.0)
