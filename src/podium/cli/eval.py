"""``podium eval run DATASET --prompt NAME@LABEL``: score prompt versions (or models) on a dataset.

The calls run through an in-process gateway on the configuration and storage (the prompt registry,
routing, limits and guardrails all apply; each call leaves a request record with key id
``podium:eval``), the answers through the configured evaluators (``evaluation.evaluators``). Scores
are stored with source ``dataset:<file name>`` and printed per prompt version and evaluator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from podium.cli.common import add_config_args, load, open_store, print_config_error
from podium.errors import ConfigError, PodiumError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ps = p.add_subparsers(dest="eval_command", metavar="ACTION", required=True)
    r = ps.add_parser(
        "run",
        help="run a JSON Lines dataset through prompt versions or models and print the scores",
        description=(
            'Each line: {"variables": {...}, "input": "...", "messages": [...], "expected": "..."}. '
            "Give --prompt (repeatable, NAME@LABEL, NAME@vN or NAME for production) or --model."
        ),
    )
    add_config_args(r)
    r.add_argument("dataset", help="a .jsonl file")
    r.add_argument(
        "--prompt", action="append", default=[], metavar="NAME@LABEL", help="a registry prompt to evaluate"
    )
    r.add_argument(
        "--model", action="append", default=[], help="a route or deployment to evaluate (no prompt)"
    )
    r.add_argument(
        "--evaluator", action="append", default=[], metavar="NAME", help="only these configured evaluators"
    )
    r.add_argument("--tenant", default="default", help="whose prompts and limits (default: default)")
    r.add_argument("--concurrency", type=int, default=4, help="cases in flight at once (default 4)")
    r.add_argument("--min-score", type=float, help="exit with status 3 if any mean score is below this")
    r.add_argument("--json", action="store_true", help="print one JSON object per target and evaluator")
    r.set_defaults(func=run)


async def _run(args: argparse.Namespace) -> int:
    from podium.evaluation.calls import judge_caller
    from podium.evaluation.datasets import load_dataset, run_dataset
    from podium.evaluation.evaluators import build_evaluator
    from podium.gateway.app import Gateway

    if not args.prompt and not args.model:
        print("podium: give --prompt NAME@LABEL or --model NAME (or several)", file=sys.stderr)
        return 2
    path = Path(args.dataset)
    cases = load_dataset(path)
    config, _ = await load(args)
    settings = config.evaluation
    names = args.evaluator or list(settings.evaluators)
    unknown = [n for n in names if n not in settings.evaluators]
    if unknown:
        print(f"podium: unknown evaluator(s) {', '.join(unknown)}; configured: "
              f"{', '.join(settings.evaluators) or 'none'}", file=sys.stderr)  # fmt: skip
        return 2
    if not names:
        print("podium: no evaluators: configure evaluation.evaluators in podium.yaml", file=sys.stderr)
        return 2
    storage = await open_store(config, args)
    gw = Gateway(config, storage)
    gw.telemetry.batch_mode()  # no alert evaluation, no live sampling in a command-line run
    try:
        await gw.start()
        caller = judge_caller(gw)
        evaluators = [
            build_evaluator(n, settings.evaluators[n], judge_route=settings.judge_route, caller=caller)
            for n in names
        ]
        targets = [f"prompt:{p}" for p in args.prompt] + list(args.model)
        rows = []
        failures = 0
        for target in targets:
            summaries, errors = await run_dataset(
                gw, cases, target=target, evaluators=evaluators, tenant=args.tenant,
                source=f"dataset:{path.name}", concurrency=max(1, args.concurrency),
            )  # fmt: skip
            for e in errors[:5]:
                print(f"podium: {target}: {e}", file=sys.stderr)
            for summary in sorted(summaries.values(), key=lambda s: s.target):
                failures += summary.failed_calls
                rows += [{**summary.row(n), "failed_calls": summary.failed_calls} for n in names]
    finally:
        await gw.close()
        await storage.close()
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"{'TARGET':<32} {'EVALUATOR':<20} {'CASES':>5} {'SCORED':>6} {'MEAN':>6} {'PASS':>6}")
        for row in rows:
            mean = "-" if row["mean"] is None else f"{row['mean']:.3f}"
            passed = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            print(
                f"{row['target'][:32]:<32} {row['evaluator'][:20]:<20} {row['cases']:>5} {row['measured']:>6} "
                f"{mean:>6} {passed:>6}"
            )
        if failures:
            print(f"\n{failures} call(s) failed and were not scored")
    if args.min_score is not None and any(r["mean"] is not None and r["mean"] < args.min_score for r in rows):
        return 3
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print_config_error(exc)
        return 1
    except (PodiumError, ValueError, OSError) as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return 1
