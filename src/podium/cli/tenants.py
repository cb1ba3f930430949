"""``podium tenants create | list | update``: tenants, through the same service functions as the admin API."""

from __future__ import annotations

import argparse

from podium.cli.admin_common import audit_change, print_rows, run_action
from podium.cli.common import add_config_args
from podium.config.model import Config
from podium.identity import tenants as service
from podium.storage.base import Storage

_COLUMNS = ("id", "name", "audit_content", "created_at", "disabled_at")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ts = p.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)

    c = ts.add_parser("create", help="create a tenant", description="Create a tenant.")
    add_config_args(c)
    c.add_argument("tenant_id", help="a slug: lowercase letters, digits and '-' (e.g. acme)")
    c.add_argument("--name", help="a display name (default: the id)")
    c.add_argument(
        "--audit-content", action="store_true", help="keep prompt and completion text in the audit trail"
    )
    c.set_defaults(func=_create)

    ls = ts.add_parser("list", help="list tenants", description="List tenants.")
    add_config_args(ls)
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(func=_list)

    u = ts.add_parser("update", help="change a tenant", description="Rename, opt in/out of content, disable.")
    add_config_args(u)
    u.add_argument("tenant_id")
    u.add_argument("--name")
    content = u.add_mutually_exclusive_group()
    content.add_argument("--audit-content", dest="audit_content", action="store_const", const=True)
    content.add_argument("--no-audit-content", dest="audit_content", action="store_const", const=False)
    state = u.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_const", const=True)
    state.add_argument("--enable", dest="disabled", action="store_const", const=False)
    u.set_defaults(func=_update)


def _create(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        tenant = await service.create_tenant(
            storage, tenant_id=args.tenant_id, name=args.name, audit_content=args.audit_content
        )
        await audit_change(
            storage,
            config,
            tenant=service.ROOT_TENANT,
            action="cli.tenants.create",
            resource=f"tenant:{tenant.id}",
        )
        print(f"created tenant {tenant.id} ({tenant.name})")
        return 0

    return run_action(args, action)


def _list(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        print_rows(await storage.identity.list_tenants(), _COLUMNS, as_json=args.json)
        return 0

    return run_action(args, action)


def _update(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config) -> int:
        tenant = await service.update_tenant(
            storage, args.tenant_id, name=args.name, audit_content=args.audit_content, disabled=args.disabled
        )
        await audit_change(
            storage,
            config,
            tenant=tenant.id,
            action="cli.tenants.update",
            resource=f"tenant:{tenant.id}",
            details={"name": args.name, "audit_content": args.audit_content, "disabled": args.disabled},
        )
        print(f"updated tenant {tenant.id}")
        return 0

    return run_action(args, action)
