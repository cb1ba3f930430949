"""``podium serve``: run the gateway until SIGTERM/SIGINT; SIGHUP reloads the configuration file."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from podium import __version__
from podium.cli.common import add_config_args, load, open_store, print_config_error, storage_url
from podium.config.model import Config
from podium.errors import ConfigError, PodiumError
from podium.storage.base import Storage

if TYPE_CHECKING:
    from podium.gateway.server import RunningServer

log = logging.getLogger("podium")

BOOTSTRAP_MARK = "bootstrap_admin_key"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=(
            "Run the gateway. With no configuration file it serves the embedded default: the simulated "
            "provider (sim/echo, sim/tools, ...), every provider whose API key variable is set, and a local "
            "Ollama if one answers, with SQLite storage in the data directory."
        ),
    )
    add_config_args(p)
    p.add_argument("--host", help="address to listen on (default: the config's, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: the config's, 8400)")
    p.add_argument(
        "--session-key",
        action="store_true",
        help="also mint an inference key that lives only in this process's memory and print it "
        "(handy for trying Podium; it stops working when the server stops)",
    )
    p.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="override server.log_level"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return int(asyncio.run(_serve(args)))
    try:
        return int(uvloop.run(_serve(args)))
    except KeyboardInterrupt:
        return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        config, path = await load(args, probe_ollama=True)
    except ConfigError as exc:
        _setup_logging("info")
        print_config_error(exc)
        return 1
    _setup_logging(args.log_level or config.server.log_level)
    try:
        storage = await open_store(config, args)
    except PodiumError as exc:
        print(f"podium: storage unavailable: {exc.message}", file=sys.stderr)
        return 1
    from podium.gateway.server import start_server

    try:
        admin_secret = await _bootstrap_admin(storage)
        server = await start_server(config, storage, host=args.host, port=args.port)
    except OSError as exc:
        print(f"podium: cannot listen: {exc}", file=sys.stderr)
        await storage.close()
        return 1
    except BaseException:
        # Close storage whatever went wrong: its worker thread would otherwise keep the process alive,
        # and a supervisor would never see the failed start to restart it.
        await storage.close()
        raise
    session_secret = _session_key(server) if args.session_key else None
    # What start-up made (modules, configuration, catalog) lives as long as the process: out of the
    # collector's sight, a full collection walks only what requests make (docs/decisions/0078).
    gc.collect()
    gc.freeze()
    _banner(
        server,
        config,
        path,
        storage_url(config, args),
        admin_secret,
        session_secret,
        time.perf_counter() - t0,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if path is not None:
        loop.add_signal_handler(signal.SIGHUP, _reload, server, path)
    await stop.wait()
    log.info("stopping: draining in-flight requests")
    await server.stop()
    await storage.close()
    return 0


def _reload(server: RunningServer, path: Path) -> None:
    from podium.config import load_config

    try:
        config = load_config(path, environ=os.environ)
    except ConfigError as exc:
        log.error("reload refused, keeping the running configuration:\n%s", exc.message)
        return
    if (config.server.host, config.server.port) != (
        server.gateway.config.server.host,
        server.gateway.config.server.port,
    ):
        log.warning("server.host/port changes need a restart; the rest of the new configuration applies now")
    server.gateway.reload(config)


async def _bootstrap_admin(storage: Storage) -> str | None:
    """On the first start of an empty store, create the admin key; return its secret to print once."""
    from podium.keys import key_record, new_secret

    if await storage.meta.get(BOOTSTRAP_MARK) is not None:
        return None
    given = os.environ.get("PODIUM_ADMIN_KEY")
    secret = given or new_secret()
    record = key_record(secret, name="admin", scopes=("admin", "inference"))
    # Several replicas may start at once on an empty store: exactly one creates the admin key.
    if not await storage.meta.set_if_absent(BOOTSTRAP_MARK, record.id):
        return None
    await storage.keys.create(record)
    return None if given else secret


def _session_key(server: RunningServer) -> str:
    from podium.keys import key_record, new_secret

    secret = new_secret()
    server.gateway.keys.add(key_record(secret, name="session", scopes=("inference",)))
    return secret


def _banner(
    server: RunningServer,
    config: Config,
    path: Path | None,
    store: str,
    admin_secret: str | None,
    session_secret: str | None,
    startup: float,
) -> None:
    from podium.config import describe

    out = sys.stdout
    source = str(path) if path else "embedded default (no podium.yaml)"
    print(f"Podium {__version__} listening on {server.url}  (ready in {startup:.2f}s)", file=out)
    print(f"  config:  {source}", file=out)
    print(f"  storage: {store}", file=out)
    for line in describe(config):
        print(f"  models:  {line}", file=out)
    if admin_secret:
        print(f"\nAdmin key (shown once — store it now): {admin_secret}", file=out)
    if session_secret:
        print(f"Session key (lives until this server stops): {session_secret}", file=out)
    key = session_secret or admin_secret
    if key is None:
        key = "$PODIUM_API_KEY"
        print("\nCreate a key to call it with:  podium keys create --name my-app", file=out)
    base = server.url
    print(
        f"""
Try it with curl:
  curl {base}/v1/chat/completions \\
    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
    -d '{{"model": "sim/echo", "messages": [{{"role": "user", "content": "Hello, Podium!"}}]}}'

or with the OpenAI Python SDK (pip install openai):
from openai import OpenAI
client = OpenAI(base_url="{base}/v1", api_key="{key}")
reply = client.chat.completions.create(model="sim/echo", messages=[{{"role": "user", "content": "Hello, Podium!"}}])
print(reply.choices[0].message.content)
""",
        file=out,
        flush=True,
    )
