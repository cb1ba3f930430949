"""``podium users create | list | set-roles | set-password | disable | enable``: people of a tenant.

Passwords are read from standard input (``--password-stdin``) or asked for at the terminal, never
from the command line, where other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from podium.cli.admin_common import audit_change, print_rows, run_action
from podium.cli.common import add_config_args
from podium.config.model import Config
from podium.identity import users as service
from podium.identity.roles import RoleBook
from podium.identity.tenants import ROOT_TENANT
from podium.storage.base import Storage

_COLUMNS = ("id", "username", "roles", "team", "email", "created_at", "disabled_at")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    us = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    def command(verb: str, helptext: str) -> argparse.ArgumentParser:
        c = us.add_parser(verb, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        add_config_args(c)
        c.add_argument("--tenant", default=ROOT_TENANT, help="the tenant (default: default)")
        return c

    c = command("create", "create a person (a local account if given a password)")
    c.add_argument("username")
    c.add_argument("--roles", default="", help="comma-separated roles, e.g. admin or auditor,reviewer")
    c.add_argument("--team")
    c.add_argument("--email")
    c.add_argument("--display-name", default="")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.add_argument("--no-password", action="store_true", help="no local sign-in (OIDC only)")
    c.set_defaults(func=_create)

    ls = command("list", "list a tenant's people")
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(func=_list)

    r = command("set-roles", "replace a person's roles")
    r.add_argument("user_id")
    r.add_argument("roles", help="comma-separated roles ('' for none)")
    r.set_defaults(func=_set_roles)

    pw = command("set-password", "set a person's password (ends their sessions)")
    pw.add_argument("user_id")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_set_password)

    for verb, disabled in (("disable", True), ("enable", False)):
        d = command(verb, f"{verb} a person" + (" (ends their sessions)" if disabled else ""))
        d.add_argument("user_id")
        d.set_defaults(func=_set_disabled, disabled=disabled)


def _roles(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords differ")
    return first


def _create(args: argparse.Namespace) -> int:
    password = None if args.no_password else _password(args.password_stdin)

    async def action(storage: Storage, config: Config) -> int:
        user = await service.create_user(
            storage,
            RoleBook(config.identity),
            tenant=args.tenant,
            username=args.username,
            password=password,
            user_roles=_roles(args.roles),
            team=args.team,
            email=args.email,
            display_name=args.display_name,
        )
        await audit_change(
            storage,
            config,
            tenant=user.tenant,
            action="cli.users.create",
            resource=f"user:{user.id}",
            details={"username": user.username, "roles": list(user.roles)},
        )
        print(
            f"created {user.id} ({user.username}) in {user.tenant}; roles: {', '.join(user.roles) or 'none'}"
        )
        return 0

    return run_action(args, action)


def _list(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        print_rows(await storage.identity.list_users(args.tenant), _COLUMNS, as_json=args.json)
        return 0

    return run_action(args, action)


def _update(args: argparse.Namespace, what: str, **changes: object) -> int:
    async def action(storage: Storage, config: Config) -> int:
        user = await service.update_user(
            storage,
            RoleBook(config.identity),
            tenant=args.tenant,
            user_id=args.user_id,
            **changes,  # type: ignore[arg-type]
        )
        details = {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items() if k != "password"}
        await audit_change(
            storage,
            config,
            tenant=user.tenant,
            action=f"cli.users.{what}",
            resource=f"user:{user.id}",
            details=details,
        )
        print(f"{what}: {user.id} ({user.username})")
        return 0

    return run_action(args, action)


def _set_roles(args: argparse.Namespace) -> int:
    return _update(args, "set-roles", user_roles=_roles(args.roles))


def _set_password(args: argparse.Namespace) -> int:
    return _update(args, "set-password", password=_password(args.password_stdin))


def _set_disabled(args: argparse.Namespace) -> int:
    return _update(args, "disable" if args.disabled else "enable", disabled=args.disabled)
