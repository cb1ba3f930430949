"""``podium simulate``: the simulated OpenAI-compatible provider as a standalone server."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text
        + " The model name chooses the behaviour, e.g. sim/echo, sim/tools, sim/json, sim/lorem?words=200,"
        " sim/echo?status=429&retry_after=2. See docs/simulator.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8401, help="port to listen on, 0 for any free port (default: 8401)"
    )
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (default: no auth)")
    p.add_argument(
        "--record", type=int, default=1000, metavar="N", help="keep the last N requests for /sim/requests"
    )
    p.set_defaults(func=run)


async def _main(args: argparse.Namespace) -> None:
    # imported here, not at the top: `podium --help` should not pay for aiohttp
    from podium.simulator.server import serve

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready: asyncio.Future[str] = loop.create_future()
    server = asyncio.create_task(
        serve(args.host, args.port, api_key=args.api_key, record=args.record, ready=ready, stop=stop)
    )
    # whichever comes first: the server is up, or it failed to start (port taken)
    started: set[asyncio.Future[Any]] = {ready, server}
    await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        print(f"podium simulator listening on {ready.result()}", flush=True)
    await server


def _runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop  # optional: the default loop works, only slower
    except ImportError:
        return asyncio.run
    return uvloop.run


def run(args: argparse.Namespace) -> int:
    if args.record < 0:
        print("podium simulate: --record must be >= 0", file=sys.stderr)
        return 2
    try:
        _runner()(_main(args))
    except OSError as exc:
        print(f"podium simulate: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
