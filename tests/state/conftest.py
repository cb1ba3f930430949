"""Fixtures that hand every conformance test a shared-state backend of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from podium.state.base import SharedState
from podium.state.memory import MemoryState
from podium.state.redis import RedisState
from tests.redis_server import fresh_prefix

MakeState = Callable[[], SharedState]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[MakeState]:
    """Opens backends on one shared store, each like a separate replica (in process: one store); closes them all."""
    opened: list[SharedState] = []
    if request.param == "memory":
        memory = MemoryState()
        opened.append(memory)
        yield lambda: memory
        return
    async with fresh_prefix() as (url, prefix):

        def make() -> SharedState:
            state = RedisState(url, prefix=prefix)
            opened.append(state)
            return state

        yield make
        for state in opened:
            await state.close()


@pytest.fixture
async def state(make_state: MakeState) -> SharedState:
    s = make_state()
    await s.start()
    return s
