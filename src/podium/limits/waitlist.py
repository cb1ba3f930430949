"""A bounded priority queue of requests waiting for one limit, in this process.

Only the head (highest priority, then first come) tries the shared counter again; the others wait
their turn, so a burst of waiters costs one check at a time, not one each. Each waiter has its own
deadline and leaves the queue when it passes. Across replicas every replica has its own queue in
front of the same shared counter: the limit holds exactly, the order is per replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools

__all__ = ["Waitlist"]

_seq = itertools.count()


class _Waiter:
    __slots__ = ("done", "turn")

    def __init__(self) -> None:
        self.turn = asyncio.Event()
        self.done = False


class Waitlist:
    def __init__(self) -> None:
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._size = 0
        self.nudge = asyncio.Event()  # set when capacity may have freed in this process (a release)

    def __len__(self) -> int:
        return self._size

    def join(self, priority: int) -> _Waiter:
        waiter = _Waiter()
        heapq.heappush(self._heap, (-priority, next(_seq), waiter))
        self._size += 1
        self._promote()
        return waiter

    def leave(self, waiter: _Waiter) -> None:
        if waiter.done:
            return
        waiter.done = True
        self._size -= 1
        self._promote()

    def _promote(self) -> None:
        while self._heap and self._heap[0][2].done:
            heapq.heappop(self._heap)
        if self._heap:
            self._heap[0][2].turn.set()

    def heads(self, waiter: _Waiter) -> bool:
        return bool(self._heap) and self._heap[0][2] is waiter

    async def wait_turn(self, waiter: _Waiter, timeout: float) -> bool:
        """``True`` once ``waiter`` heads the queue; ``False`` if ``timeout`` seconds pass first.

        A waiter that headed the queue loses its turn when one of higher priority arrives."""
        if self.heads(waiter):
            return True
        waiter.turn.clear()
        try:
            await asyncio.wait_for(waiter.turn.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if a release in this process may have freed capacity."""
        self.nudge.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.nudge.wait(), max(0.0, seconds))
