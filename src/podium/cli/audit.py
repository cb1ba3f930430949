"""``podium audit verify | export | checkpoint``: check the hash chain, export it for a SIEM, sign its head.

``verify`` walks every entry and names the first bad one (modified, deleted, inserted, reordered);
it exits 0 when the chain is intact and 1 otherwise. It reads the server key the way the servers do
(``audit.key`` or the one kept in storage); ``--checkpoints FILE`` also checks checkpoints you kept
elsewhere (JSON Lines from ``podium audit checkpoint``), optionally against ``--public-key``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from podium.cli.admin_common import audit_change, run_action
from podium.cli.common import add_config_args
from podium.config.model import Config
from podium.identity.tenants import ROOT_TENANT
from podium.storage.audit_records import AuditCheckpoint
from podium.storage.base import Storage


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    aus = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    v = aus.add_parser(
        "verify", help="check the chain; name the first bad entry", description=__doc__.split("\n\n")[1]
    )
    add_config_args(v)
    v.add_argument(
        "--checkpoints", metavar="FILE", help="checkpoints kept elsewhere (JSON Lines) to check too"
    )
    v.add_argument("--public-key", help="trust only checkpoints signed by this key (base64)")
    v.add_argument(
        "--no-key", action="store_true", help="check hashes and checkpoints only, not the server-key macs"
    )
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_verify)

    e = aus.add_parser(
        "export", help="write entries as JSON Lines", description="Write audit entries as JSON Lines."
    )
    add_config_args(e)
    e.add_argument("--tenant", help="only this tenant's entries (default: all)")
    e.add_argument("--after", type=int, default=0, help="only entries with a larger seq (resume an export)")
    e.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    e.set_defaults(func=_export)

    c = aus.add_parser(
        "checkpoint",
        help="sign the chain head now",
        description="Sign the chain head and print the checkpoint.",
    )
    add_config_args(c)
    c.add_argument("--output", "-o", metavar="FILE", help="append the checkpoint (JSON Lines) to this file")
    c.add_argument("--all", action="store_true", help="print every stored checkpoint, not only the new one")
    c.set_defaults(func=_checkpoint)


def _verify(args: argparse.Namespace) -> int:
    from podium.audit.keys import audit_keys
    from podium.audit.verify import verify_chain

    external: list[AuditCheckpoint] = []
    if args.checkpoints:
        lines = Path(args.checkpoints).read_text().splitlines()
        external = [msgspec.json.decode(line, type=AuditCheckpoint) for line in lines if line.strip()]

    async def action(storage: Storage, config: Config) -> int:
        key = None if args.no_key else (await audit_keys(storage.meta, config.audit))[0]
        report = await verify_chain(storage.audit, key, external=external, trusted_public_key=args.public_key)
        problem = report.problem
        if args.json:
            print(
                msgspec.json.encode(
                    {
                        "ok": report.ok,
                        "checked": report.checked,
                        "head_seq": report.head_seq,
                        "checkpoints_checked": report.checkpoints_checked,
                        "first_bad_seq": problem.seq if problem else None,
                        "reason": problem.reason if problem else None,
                    }
                ).decode()
            )
        elif problem is None:
            print(
                f"ok: {report.checked} entries, head at {report.head_seq}, "
                f"{report.checkpoints_checked} checkpoint(s) matched"
            )
        else:
            print(f"TAMPERED: first bad entry is {problem.seq}: {problem.reason}", file=sys.stderr)
            print(f"({report.checked} entries before it are intact)", file=sys.stderr)
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        return 0 if report.ok else 1

    return run_action(args, action)


def _export(args: argparse.Namespace) -> int:
    from podium.audit.verify import entries

    async def action(storage: Storage, config: Config) -> int:
        # A short-lived command writing its own output file: blocking writes are what it is for.
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115, ASYNC230
        count = 0
        try:
            async for entry in entries(storage.audit, tenant=args.tenant, after=args.after):
                out.write(msgspec.json.encode(entry).decode() + "\n")
                count += 1
        finally:
            if args.output:
                out.close()
        await audit_change(
            storage,
            config,
            tenant=args.tenant or ROOT_TENANT,
            action="cli.audit.export",
            resource="audit",
            details={"entries": count, "tenant": args.tenant, "after": args.after},
        )
        if args.output:
            print(f"wrote {count} entries to {args.output}", file=sys.stderr)
        return 0

    return run_action(args, action)


def _checkpoint(args: argparse.Namespace) -> int:
    from podium.audit.checkpoints import make_checkpoint
    from podium.audit.keys import audit_keys

    async def action(storage: Storage, config: Config) -> int:
        _, signer = await audit_keys(storage.meta, config.audit)
        made = await make_checkpoint(storage.audit, signer)
        stored = await storage.audit.checkpoints()
        if not stored:
            print("podium: the audit trail is empty: nothing to checkpoint yet", file=sys.stderr)
            return 1
        chosen = stored if args.all else [made or stored[-1]]
        lines = [msgspec.json.encode(cp).decode() for cp in chosen]
        if args.output:
            with open(args.output, "a", encoding="utf-8") as f:  # noqa: ASYNC230 - a one-shot command
                f.writelines(line + "\n" for line in lines)
        for line in lines:
            print(line)
        return 0

    return run_action(args, action)
