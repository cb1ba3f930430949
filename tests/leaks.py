"""The HTTP clients a test built and did not close, found at that test's own teardown.

The official SDKs close their httpx2 client in ``__del__``, but a client left in a reference cycle
is only finalized at some later garbage collection, in an undefined order: sometimes its socket is
finalized first and warns ``unclosed <socket.socket ...>`` (about 1 leaked client in 80), failing
whichever test runs then. Recording every httpx2 client as it is built (the SDKs' clients are
httpx2 clients) and collecting at each test's teardown turns that random failure into a certain
one, in the test that leaked, naming the line which built the client.
"""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path
from types import FrameType
from typing import Any

import httpx2

TESTS = str(Path(__file__).parent)

_modules_at_freeze = 0

_built: weakref.WeakKeyDictionary[httpx2.Client | httpx2.AsyncClient, str] = weakref.WeakKeyDictionary()


def install() -> None:
    """Record every httpx2 client built from now on (idempotent)."""
    for cls in (httpx2.Client, httpx2.AsyncClient):
        original = cls.__init__
        if getattr(original, "_records_clients", False):
            continue

        def init(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            _built[self] = _site()

        init._records_clients = True  # type: ignore[attr-defined]
        cls.__init__ = init  # type: ignore[method-assign]


def _site() -> str:
    """``file:line`` of the innermost frame in the test suite that led to the client."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(TESTS) and frame.f_code.co_filename != __file__:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "outside tests/"


def collect_leaked() -> list[str]:
    """Run the collector; where each client it found still open and no longer reachable was built.

    A client still reachable (a module-scoped fixture's) is watched until it is closed or dropped.
    """
    watched = [(weakref.ref(client), site) for client, site in _built.items() if not client.is_closed]
    collect()
    return [site for ref, site in watched if ref() is None]


def collect() -> None:
    """Run the cycle collector now, so that what a test left in cycles is finalized in that test.

    Imports (the SDKs load their pydantic models lazily) leave ~100k long-lived objects that every
    collection would scan again; freezing what survives a collection after new modules appeared
    keeps each one to a few milliseconds. The price: a fixture alive at that moment (module scope)
    is never scanned again, so a cycle it leaves later is only freed at exit.
    """
    global _modules_at_freeze
    gc.collect()
    if len(sys.modules) != _modules_at_freeze:
        gc.freeze()
        _modules_at_freeze = len(sys.modules)
