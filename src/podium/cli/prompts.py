"""``podium prompts push | pull | render | list | label | diff | history | approvals | approve | reject``.

The same service functions as the admin API (:mod:`podium.prompts.registry`), directly on storage,
so they work with or without a running server; running servers follow a change within a second.
The CLI acts as ``cli:<user>`` (the operating-system user, or ``--as NAME``) with every permission,
since whoever runs it can reach the database anyway; protected labels still need an approval by a
second, different person when ``prompts.require_approval`` is set. Changes are appended to the
audit trail.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from podium.cli.common import add_config_args, load, open_store, print_config_error
from podium.config.model import Config
from podium.errors import ConfigError, PodiumError
from podium.storage.audit_records import AuditEvent
from podium.storage.base import Storage

Action = Callable[[Storage, Config, list[AuditEvent]], Awaitable[int]]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ps = p.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)

    def command(cmd: str, help_: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        c = ps.add_parser(cmd, help=help_, description=help_)
        add_config_args(c)
        c.add_argument(
            "--tenant", default="default", help="the tenant whose prompts to use (default: default)"
        )
        c.add_argument(
            "--as", dest="actor", metavar="NAME", help="who acts, for the audit trail and approvals"
        )
        c.set_defaults(func=func)
        return c

    c = command("push", "create a version from each changed NAME.yaml file in DIR", _push)
    c.add_argument("dir", help="a folder of prompt files")
    c.add_argument("-m", "--message", default="", help="the commit message of the new versions")
    c.add_argument("--label", help="also point this label at each pushed prompt's version")

    c = command("pull", "write every prompt's latest version into DIR as NAME.yaml", _pull)
    c.add_argument("dir", help="the folder to write (created if missing)")

    c = command("render", "preview a prompt rendered with variables (no model is called)", _render)
    c.add_argument("name")
    ref = c.add_mutually_exclusive_group()
    ref.add_argument("--label", help="the label to render (default: production)")
    ref.add_argument("--version", help="the version to render (3, v3 or latest)")
    c.add_argument("--var", action="append", default=[], metavar="K=V", help="a variable (repeatable)")
    c.add_argument("--json", action="store_true", help="print the messages as JSON")

    c = command("list", "list prompts with their latest version and labels", _list)
    c.add_argument("--json", action="store_true", help="print JSON lines")

    c = command("label", "point a label at a version, split it, roll it back or remove it", _label)
    c.add_argument("name")
    c.add_argument("label")
    c.add_argument("version", nargs="?", type=int, help="the version the label should point at")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--split", metavar="V=W,…", help="weighted versions, e.g. 1=70,2=30")
    how.add_argument("--rollback", action="store_true", help="move the label back to where it was before")
    how.add_argument("--remove", action="store_true", help="remove the label")
    c.add_argument("--note", default="", help="why (kept with an approval request)")

    c = command("diff", "show what changed between two versions (numbers, labels or latest)", _diff)
    c.add_argument("name")
    c.add_argument("a")
    c.add_argument("b")

    c = command("history", "show a label's moves, newest first", _history)
    c.add_argument("name")
    c.add_argument("label")

    c = command("approvals", "list requested moves of protected labels", _approvals)
    c.add_argument(
        "--status", default="pending", help="pending (default), applied, rejected, superseded or all"
    )

    c = command("approve", "approve a requested label move (a second, different person)", _approve)
    c.add_argument("approval_id")

    c = command("reject", "reject a requested label move", _reject)
    c.add_argument("approval_id")


def _actor(args: argparse.Namespace) -> Any:
    from podium.prompts.registry import Actor

    return Actor(id=f"cli:{args.actor or getpass.getuser()}", tenant=args.tenant, may_promote=True)


async def _with_store(args: argparse.Namespace, action: Action) -> int:
    config, _ = await load(args)
    storage = await open_store(config, args)
    events: list[AuditEvent] = []
    try:
        return await action(storage, config, events)
    finally:
        try:
            if events:
                from podium.audit.keys import audit_keys

                key, _signer = await audit_keys(storage.meta, config.audit)
                await storage.audit.append(events, key=key)
        finally:
            await storage.close()


def _run(args: argparse.Namespace, action: Action) -> int:
    try:
        return int(asyncio.run(_with_store(args, action)))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except (PodiumError, ValueError) as exc:
        param = getattr(exc, "param", None)
        message = getattr(exc, "message", str(exc))
        print(
            f"podium: {message}" + (f" ({param})" if param and param not in message else ""), file=sys.stderr
        )
        return 1


def _targets(text: str) -> tuple[Any, ...]:
    from podium.storage.prompt_records import LabelTarget

    targets = []
    for part in text.split(","):
        version, sep, weight = part.strip().partition("=")
        try:
            targets.append(LabelTarget(int(version.lstrip("v")), float(weight) if sep else 100.0))
        except ValueError:
            raise ValueError(f"'{part}' is not VERSION=WEIGHT (as in --split 1=70,2=30)") from None
    return tuple(targets)


def _print_change(change: Any) -> None:
    if change.approval is not None:
        a = change.approval
        print(f"requested: {a.name}@{a.label} → {_targets_text(a.targets)}; approval {a.id} is pending")
        print(f"  a second person approves it with: podium prompts approve {a.id}")
    elif change.label is not None:
        label = change.label
        where = _targets_text(label.targets) if label.targets else "(removed)"
        print(f"{label.name}@{label.label} → {where}")


def _targets_text(targets: Any) -> str:
    if len(targets) == 1:
        return f"v{targets[0].version}"
    return ", ".join(f"v{t.version} ({t.weight:g})" for t in targets)


def _push(args: argparse.Namespace) -> int:
    from podium.prompts.files import push

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        results = await push(
            storage,
            config.prompts,
            _actor(args),
            Path(args.dir),
            message=args.message,
            label=args.label,
            audit=events.append,
        )
        for r in results:
            state = "created" if r.created else "unchanged"
            print(f"{r.version.name}: v{r.version.number} {state}")
            if not r.canonical:
                print(f"  note: {r.path} is not in the canonical layout; `pull` would write it differently")
            if r.label is not None:
                _print_change(r.label)
        if not results:
            print(f"no prompt files (*.yaml) in {args.dir}")
        return 0

    return _run(args, action)


def _pull(args: argparse.Namespace) -> int:
    from podium.prompts.files import pull

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        for path in await pull(storage, args.tenant, Path(args.dir)):
            print(path)
        return 0

    return _run(args, action)


def _variables(pairs: list[str], declared: dict[str, Any]) -> dict[str, Any]:
    """``K=V`` pairs; a string variable takes V as it is, any other type reads V as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--var '{pair}' is not K=V")
        spec = declared.get(name)
        if spec is None or spec.type == "string":
            out[name] = text
            continue
        try:
            out[name] = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"--var {name}: '{text}' is not JSON (the variable is {spec.type})") from None
    return out


def _render(args: argparse.Namespace) -> int:
    from podium.prompts import registry
    from podium.prompts.model import parse_ref

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        ref = parse_ref(args.name, args.version or args.label, "ref")
        version = await registry.get_version(storage, args.tenant, ref)
        variables = _variables(args.var, dict(version.spec.variables))
        ref = parse_ref(args.name, str(version.number), "ref")
        out = await registry.render_preview(storage, config.prompts, args.tenant, ref, variables)
        if args.json:
            print(json.dumps(out["messages"], ensure_ascii=False, indent=2))
            return 0
        print(f"# {out['name']} v{out['version']}")
        for m in out["messages"]:
            print(f"[{m['role']}]\n{m['content']}")
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    from podium.prompts import registry

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        prompts = await registry.list_prompts(storage, args.tenant)
        if args.json:
            for p in prompts:
                print(json.dumps(p, ensure_ascii=False))
            return 0
        print(f"{'NAME':<32} {'LATEST':<7} LABELS")
        for p in prompts:
            labels = ", ".join(
                f"{name}→" + "+".join(f"v{int(v)}" + (f"({w:g})" if len(t) > 1 else "") for v, w in t)
                for name, t in p["labels"].items()
            )
            print(f"{p['name'][:32]:<32} v{p['latest_version']:<6} {labels or '-'}")
        return 0

    return _run(args, action)


def _label(args: argparse.Namespace) -> int:
    from podium.prompts import registry

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        actor = _actor(args)
        if args.rollback:
            change = await registry.rollback_label(
                storage, config.prompts, actor, args.name, args.label, audit=events.append
            )
        else:
            if args.remove:
                targets: tuple[Any, ...] = ()
            elif args.split:
                targets = _targets(args.split)
            elif args.version is not None:
                targets = _targets(str(args.version))
            else:
                raise ValueError("give a VERSION, --split, --rollback or --remove")
            change = await registry.move_label(
                storage,
                config.prompts,
                actor,
                args.name,
                args.label,
                targets,
                note=args.note,
                audit=events.append,
            )
        _print_change(change)
        return 0

    return _run(args, action)


def _diff(args: argparse.Namespace) -> int:
    from podium.prompts import registry
    from podium.prompts.model import parse_ref

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        a, b = parse_ref(args.name, args.a, "a"), parse_ref(args.name, args.b, "b")
        out = await registry.diff_versions(storage, args.tenant, args.name, a, b)
        if out["template_diff"]:
            print(out["template_diff"])
        for change in out["changes"]:
            print(f"{change['path']}: {json.dumps(change['from'])} → {json.dumps(change['to'])}")
        if not out["template_diff"] and not out["changes"]:
            print(f"v{out['from']} and v{out['to']} have the same content")
        return 0

    return _run(args, action)


def _history(args: argparse.Namespace) -> int:
    import datetime as dt

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        for h in await storage.prompts.label_history(args.tenant, args.name, args.label):
            when = dt.datetime.fromtimestamp(h.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            to = _targets_text(h.targets) if h.targets else "(removed)"
            before = _targets_text(h.previous) if h.previous else "-"
            approved = f", approved by {h.approved_by}" if h.approved_by else ""
            print(f"{when}  {before} → {to}  by {h.actor}{approved}")
        return 0

    return _run(args, action)


def _approvals(args: argparse.Namespace) -> int:
    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        status = None if args.status == "all" else args.status
        for a in await storage.prompts.approvals(args.tenant, status=status):
            note = f"  ({a.note})" if a.note else ""
            print(
                f"{a.id}  {a.status:<10} {a.name}@{a.label} → {_targets_text(a.targets)}  by {a.requested_by}{note}"
            )
        return 0

    return _run(args, action)


def _approve(args: argparse.Namespace) -> int:
    from podium.prompts import registry

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        a = await registry.approve(storage, _actor(args), args.approval_id, audit=events.append)
        print(f"approved {a.id}: {a.name}@{a.label} → {_targets_text(a.targets)}")
        return 0

    return _run(args, action)


def _reject(args: argparse.Namespace) -> int:
    from podium.prompts import registry

    async def action(storage: Storage, config: Config, events: list[AuditEvent]) -> int:
        a = await registry.reject(storage, _actor(args), args.approval_id, audit=events.append)
        print(f"rejected {a.id}: {a.name}@{a.label}")
        return 0

    return _run(args, action)
