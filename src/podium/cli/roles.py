"""``podium roles list | show``: the built-in roles and the custom ones from ``identity.roles``."""

from __future__ import annotations

import argparse
import sys

import msgspec

from podium.cli.common import add_config_args, load, print_config_error
from podium.errors import ConfigError
from podium.identity.roles import RoleBook


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    rs = p.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    ls = rs.add_parser("list", help="list roles", description="List roles and their descriptions.")
    add_config_args(ls)
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(func=_run, role=None)
    sh = rs.add_parser("show", help="show one role's permissions", description="Show a role's permissions.")
    add_config_args(sh)
    sh.add_argument("role")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        config, _ = asyncio.run(load(args))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    book = RoleBook(config.identity)
    names = [args.role] if args.role else list(book.roles)
    if args.role and args.role not in book.roles:
        print(f"podium: no role '{args.role}' (known: {', '.join(book.roles)})", file=sys.stderr)
        return 1
    for name in names:
        role = book.roles[name]
        if args.json:
            print(
                msgspec.json.encode(
                    {
                        "name": role.name,
                        "builtin": role.builtin,
                        "description": role.description,
                        "permissions": sorted(role.permissions),
                    }
                ).decode()
            )
        elif args.role:
            print(f"{role.name}{'' if role.builtin else ' (custom)'}: {role.description}")
            for permission in sorted(role.permissions):
                print(f"  {permission}")
        else:
            print(f"{role.name:<18} {'built-in' if role.builtin else 'custom':<9} {role.description}")
    return 0
