"""``podium teams create | list | delete``: teams of a tenant."""

from __future__ import annotations

import argparse

from podium.cli.admin_common import audit_change, print_rows, run_action
from podium.cli.common import add_config_args
from podium.config.model import Config
from podium.identity import tenants as service
from podium.storage.base import Storage


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ts = p.add_subparsers(dest="teams_command", metavar="ACTION", required=True)
    for verb, helptext, func in (
        ("create", "create a team", _create),
        ("list", "list a tenant's teams", _list),
        ("delete", "delete a team", _delete),
    ):
        c = ts.add_parser(verb, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        add_config_args(c)
        c.add_argument("--tenant", default=service.ROOT_TENANT, help="the tenant (default: default)")
        if verb != "list":
            c.add_argument("name", help="the team's name (a slug)")
        if verb == "create":
            c.add_argument("--description", default="")
        if verb == "list":
            c.add_argument("--json", action="store_true", help="print JSON lines")
        c.set_defaults(func=func)


def _create(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        team = await service.create_team(
            storage, tenant=args.tenant, name=args.name, description=args.description
        )
        await audit_change(
            storage, config, tenant=args.tenant, action="cli.teams.create", resource=f"team:{team.name}"
        )
        print(f"created team {team.name} in {team.tenant}")
        return 0

    return run_action(args, action)


def _list(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        await service.require_tenant(storage, args.tenant)
        print_rows(
            await storage.identity.list_teams(args.tenant),
            ("name", "description", "created_at"),
            as_json=args.json,
        )
        return 0

    return run_action(args, action)


def _delete(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        await service.delete_team(storage, tenant=args.tenant, name=args.name)
        await audit_change(
            storage, config, tenant=args.tenant, action="cli.teams.delete", resource=f"team:{args.name}"
        )
        print(f"deleted team {args.name}")
        return 0

    return run_action(args, action)
