"""``podium requests``: the request log — tokens, cost, latency and status of recent calls."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time

import msgspec

from podium.cli.common import add_config_args, load, open_store, print_config_error
from podium.errors import ConfigError, PodiumError
from podium.keys import parse_duration
from podium.storage.records import RequestQuery, RequestRecord


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description="Show recorded requests, newest first. Records are written in batches, so a call "
        "shows up here a fraction of a second after it finished.",
    )
    add_config_args(p)
    p.add_argument("--limit", type=int, default=20, help="how many to show (default 20, at most 1000)")
    p.add_argument("--model", help="only this requested model")
    p.add_argument("--key", dest="key_id", help="only this key id")
    p.add_argument("--deployment", help="only this deployment")
    p.add_argument("--status", type=int, help="only this HTTP status")
    p.add_argument("--errors", action="store_true", help="only failed requests (status >= 400)")
    p.add_argument("--since", metavar="DURATION", help="only the last DURATION, e.g. 15m, 2h, 7d")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.set_defaults(func=run)


def _row(r: RequestRecord) -> str:
    when = dt.datetime.fromtimestamp(r.created_at, dt.UTC).strftime("%m-%d %H:%M:%S")
    tokens = f"{r.input_tokens}/{r.output_tokens}" + ("~" if r.tokens_estimated else "")
    ttft = f"{r.ttft_ms:.0f}" if r.ttft_ms is not None else "-"
    return (
        f"{when:<15} {r.requested_model[:22]:<22} {(r.deployment or '-')[:18]:<18} {r.status:<4} "
        f"{'S' if r.streamed else ' '} {tokens:>12} {r.cost_usd:>11.6f} {r.latency_ms:>9.1f} {ttft:>6} "
        f"{r.error_class or ''}"
    )


async def _show(args: argparse.Namespace) -> int:
    since = time.time() - parse_duration(args.since) if args.since else None
    query = RequestQuery(
        key_id=args.key_id,
        model=args.model,
        deployment=args.deployment,
        status=args.status,
        errors_only=args.errors,
        since=since,
        limit=max(1, min(args.limit, 1000)),
    )
    config, _ = await load(args)
    storage = await open_store(config, args)
    try:
        page = await storage.requests.query(query)
    finally:
        await storage.close()
    if args.json:
        for r in page.items:
            sys.stdout.write(msgspec.json.encode(r).decode() + "\n")
        return 0
    print(
        f"{'TIME (UTC)':<15} {'MODEL':<22} {'DEPLOYMENT':<18} {'STAT':<4} S {'TOKENS in/out':>12} "
        f"{'COST USD':>11} {'LAT ms':>9} {'TTFT':>6} ERROR"
    )
    for r in page.items:
        print(_row(r))
    if not page.items:
        print("(no requests recorded yet)")
    else:
        print("\nS = streamed; ~ = tokens counted locally because the upstream did not report usage")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_show(args))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except (PodiumError, ValueError) as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return 1
