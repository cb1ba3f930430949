"""What the identity and audit commands share: run an action on the configured storage, print
JSON or a table, and audit every change the CLI makes (actor ``cli:<operating-system user>``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from podium.cli.common import load, open_store, print_config_error
from podium.config.model import Config
from podium.errors import ConfigError, PodiumError
from podium.storage.audit_records import AuditEvent
from podium.storage.base import Storage

__all__ = ["audit_change", "print_rows", "run_action"]

Action = Callable[[Storage, Config], Awaitable[int]]


def run_action(args: argparse.Namespace, action: Action) -> int:
    async def main() -> int:
        config, _ = await load(args)
        storage = await open_store(config, args)
        try:
            return await action(storage, config)
        finally:
            await storage.close()

    try:
        return int(asyncio.run(main()))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except (PodiumError, ValueError) as exc:
        print(f"podium: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (containers)
        return "cli:unknown"


async def audit_change(
    storage: Storage,
    config: Config,
    *,
    tenant: str,
    action: str,
    resource: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry now (the CLI is short-lived: nothing to batch)."""
    from podium.audit.keys import audit_keys

    key, _ = await audit_keys(storage.meta, config.audit)
    event = AuditEvent(
        time=time.time(),
        tenant=tenant,
        actor=actor(),
        action=action,
        resource=resource,
        details=details or {},
    )
    await storage.audit.append([event], key=key)


def print_rows(items: Sequence[msgspec.Struct], columns: Sequence[str], *, as_json: bool) -> None:
    if as_json:
        for item in items:
            print(msgspec.json.encode(item).decode())
        return
    rows = [[_cell(getattr(item, c)) for c in columns] for item in items]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "-"
    if isinstance(value, float) and value > 1e9:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(value))
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(msgspec.to_builtins(value))
