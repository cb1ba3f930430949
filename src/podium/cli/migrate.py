"""``podium migrate``: apply pending storage migrations (``podium serve`` also does at start)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from podium.cli.common import add_config_args, load, open_store, print_config_error, storage_url
from podium.errors import ConfigError, PodiumError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description="Apply the numbered storage migrations that have not run yet. Safe to run while "
        "servers are running and from several places at once.",
    )
    add_config_args(p)
    p.set_defaults(func=run)


async def _migrate(args: argparse.Namespace) -> int:
    config, _ = await load(args)
    storage = await open_store(config, args, migrate=False)
    try:
        applied = await storage.migrate()
        version = await storage.schema_version()
    finally:
        await storage.close()
    where = storage_url(config, args)
    if applied:
        print(f"applied migrations {', '.join(map(str, applied))} to {where}; schema version {version}")
    else:
        print(f"{where} is up to date (schema version {version})")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_migrate(args))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except PodiumError as exc:
        print(f"podium: {exc.message}", file=sys.stderr)
        return 1
