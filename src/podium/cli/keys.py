"""``podium keys create | list | revoke``: manage API keys in the configured storage.

These call the same service functions as the admin API (``podium.keys``), directly on storage, so they
work whether or not a server is running; running servers see a change within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable

from podium.cli.common import add_config_args, load, open_store, print_config_error
from podium.errors import ConfigError, PodiumError
from podium.storage.base import Storage
from podium.storage.records import Scope

Action = Callable[[Storage], Awaitable[int]]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    c = ks.add_parser(
        "create",
        help="create a key and print its secret (shown only this once)",
        description="Create an API key. Its secret is printed once; only a hash is stored.",
    )
    add_config_args(c)
    c.add_argument("--name", required=True, help="a label for the key, e.g. the application's name")
    c.add_argument(
        "--models",
        default="*",
        help="comma-separated model names or glob patterns the key may use (default: *, every model)",
    )
    c.add_argument(
        "--admin", action="store_true", help="also allow the admin API (/admin/...) as the owner role"
    )
    c.add_argument("--tenant", default="default", help="the key's tenant (default: default)")
    c.add_argument("--roles", default="", help="comma-separated admin-API roles, e.g. developer or auditor")
    c.add_argument("--team", help="a team of the key's tenant")
    c.add_argument("--guardrail-policy", help="the guardrail policy applied to this key's calls")
    c.add_argument("--regions", default="", help="comma-separated regions its calls may be processed in")
    c.add_argument("--expires", metavar="DURATION", help="lifetime such as 12h, 30d or 2w (default: never)")
    c.add_argument("--json", action="store_true", help="print the key as JSON")
    c.set_defaults(func=_create)

    ls = ks.add_parser("list", help="list keys (never their secrets)", description="List API keys.")
    add_config_args(ls)
    ls.add_argument("--all", action="store_true", help="include revoked keys")
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(func=_list)

    r = ks.add_parser(
        "revoke", help="revoke a key by id", description="Revoke a key; it stops working within a second."
    )
    add_config_args(r)
    r.add_argument("key_id", help="the key's id (key_...), as `podium keys list` shows it")
    r.set_defaults(func=_revoke)


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


async def _with_store(args: argparse.Namespace, action: Action) -> int:
    config, _ = await load(args)
    storage = await open_store(config, args)
    try:
        return await action(storage)
    finally:
        await storage.close()


def _run(args: argparse.Namespace, action: Action) -> int:
    try:
        return int(asyncio.run(_with_store(args, action)))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except (PodiumError, ValueError) as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return 1


def _create(args: argparse.Namespace) -> int:
    from podium.keys import create_key, parse_duration

    expires_in = parse_duration(args.expires) if args.expires else None
    models = [m.strip() for m in args.models.split(",") if m.strip()] or ["*"]
    scopes: tuple[Scope, ...] = ("admin", "inference") if args.admin else ("inference",)

    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())

    async def action(storage: Storage) -> int:
        from podium.cli.admin_common import audit_change
        from podium.cli.common import load
        from podium.identity.roles import RoleBook
        from podium.identity.tenants import require_team, require_tenant

        config, _ = await load(args)
        RoleBook(config.identity).check_known(roles)
        await require_tenant(storage, args.tenant)
        await require_team(storage, args.tenant, args.team)
        secret, record = await create_key(
            storage,
            name=args.name,
            scopes=scopes,
            models=models,
            expires_in=expires_in,
            tenant=args.tenant,
            roles=roles,
            team=args.team,
            guardrail_policy=args.guardrail_policy,
            allowed_regions=regions,
        )
        await audit_change(
            storage, config, tenant=record.tenant, action="cli.keys.create", resource=f"key:{record.id}"
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "id": record.id,
                        "key": secret,
                        "name": record.name,
                        "scopes": list(record.scopes),
                        "models": list(record.models),
                        "expires_at": record.expires_at,
                        "tenant": record.tenant,
                        "roles": list(record.roles),
                        "team": record.team,
                        "guardrail_policy": record.guardrail_policy,
                        "allowed_regions": list(record.allowed_regions),
                    }
                )
            )
        else:
            print(
                f"created {record.id} ({record.name}); scopes: {', '.join(record.scopes)}; models: {', '.join(record.models)}"
            )
            print(f"expires: {_when(record.expires_at)}")
            print(f"\n  {secret}\n\nThis secret is shown once and cannot be recovered: store it now.")
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        keys = await storage.keys.list(include_revoked=args.all)
        if args.json:
            for k in keys:
                print(
                    json.dumps(
                        {
                            "id": k.id,
                            "name": k.name,
                            "prefix": k.prefix,
                            "scopes": list(k.scopes),
                            "models": list(k.models),
                            "created_at": k.created_at,
                            "expires_at": k.expires_at,
                            "revoked_at": k.revoked_at,
                            "tenant": k.tenant,
                            "roles": list(k.roles),
                        }
                    )
                )
            return 0
        print(
            f"{'ID':<21} {'NAME':<20} {'PREFIX':<12} {'SCOPES':<16} {'MODELS':<20} {'CREATED':<16} {'EXPIRES':<16} STATE"
        )
        for k in keys:
            state = "revoked" if k.revoked_at else "active"
            print(
                f"{k.id:<21} {k.name[:20]:<20} {k.prefix + '…':<12} {','.join(k.scopes):<16} "
                f"{','.join(k.models)[:20]:<20} {_when(k.created_at):<16} {_when(k.expires_at):<16} {state}"
            )
        return 0

    return _run(args, action)


def _revoke(args: argparse.Namespace) -> int:
    from podium.keys import revoke_key

    async def action(storage: Storage) -> int:
        record = await revoke_key(storage, args.key_id)
        if record is None:
            print(f"podium: no key with id '{args.key_id}'", file=sys.stderr)
            return 1
        from podium.cli.admin_common import audit_change
        from podium.cli.common import load

        config, _ = await load(args)
        await audit_change(
            storage, config, tenant=record.tenant, action="cli.keys.revoke", resource=f"key:{record.id}"
        )
        print(f"revoked {record.id} ({record.name})")
        return 0

    return _run(args, action)
