"""``podium flows run | list | show | cancel | check``: workflow runs from the shell.

``check`` validates definition files locally (no server needed) and prints every problem with its
path. The other actions call a running server's API (:mod:`podium.cli.api_client`): a run executes
on a server's worker, wherever the CLI is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from podium.cli.api_client import ApiClient, ApiError, action_parsers, client_of, report

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    command = action_parsers(sub, name, help_text, "flows_command")

    r = command("run", "start a run of a flow; wait for it to settle (or --no-wait)")
    r.add_argument("flow", help="the flow's name")
    r.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input; VALUE is JSON if it parses as JSON, else text; NAME=@FILE reads a file's text",
    )
    r.add_argument("--inputs", metavar="JSON|@FILE", help="every input as one JSON object")
    r.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait (default 60)"
    )
    r.add_argument("--no-wait", action="store_true", help="return as soon as the run is accepted")
    r.add_argument("--follow", action="store_true", help="print the run's events as they happen")
    r.set_defaults(func=_run)

    ls = command("list", "list runs, newest first")
    ls.add_argument("--flow", help="only runs of this flow")
    ls.add_argument("--status", help="queued, running, waiting (for review), succeeded, failed or cancelled")
    ls.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 1000)")
    ls.set_defaults(func=_list)

    show = command("show", "a run with every step's input, output, timings and cost")
    show.add_argument("run_id")
    show.set_defaults(func=_show)

    cancel = command("cancel", "cancel a run; a step under way is abandoned, a pending review closed")
    cancel.add_argument("run_id")
    cancel.set_defaults(func=_cancel)

    check = command("check", "validate flow definition files", description=_CHECK_HELP, server=False)
    check.add_argument("paths", nargs="+", metavar="FILE", help="YAML flow definitions")
    check.set_defaults(func=_check)


_CHECK_HELP = (
    "Validate flow definition files: unknown references, cycles without a bound, schema errors. "
    "Prints every problem with its path and exits 1 if there is any."
)


# ------------------------------------------------------------------ actions


def _with_client(args: argparse.Namespace, action: Any) -> int:
    try:
        client = client_of(args)
        result: int = action(client)
        return result
    except ApiError as exc:
        return report(exc)


def _run(args: argparse.Namespace) -> int:
    try:
        inputs = _inputs(args)
    except ValueError as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return 2

    def act(client: ApiClient) -> int:
        wait = 0.0 if (args.no_wait or args.follow) else args.wait
        run = client.call(
            "POST", f"/v1/flows/{args.flow}/runs", {"inputs": inputs, "wait": wait}, timeout=wait + 30
        )
        if args.follow:
            for event, data in client.events(f"/v1/runs/{run['id']}/events", timeout=args.wait + 30):
                print(json.dumps(data) if args.json else _event_line(event, data), flush=True)
            run = client.call("GET", f"/v1/runs/{run['id']}")
            if not args.json:
                print()
        if args.json and not args.follow:
            print(json.dumps(run, indent=2))
        elif not args.json:
            _print_run(run)
        return 1 if run["status"] in ("failed", "cancelled") else 0

    return _with_client(args, act)


def _list(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        page = client.call(
            "GET",
            "/v1/runs",
            query={"flow": args.flow, "status": args.status, "limit": max(1, min(args.limit, 1000))},
        )
        runs = page["data"]
        if args.json:
            for run in runs:
                print(json.dumps(run))
            return 0
        print(f"{'RUN':<30} {'FLOW':<22} {'STATUS':<15} {'STARTED (UTC)':<17} {'MS':>9} {'COST USD':>10}")
        for run in runs:
            print(
                f"{run['id']:<30} {run['flow'][:22]:<22} {run['status']:<15} "
                f"{_when(run['created_at']):<17} {_ms(run.get('duration_ms')):>9} {run['cost_usd']:>10.6f}"
            )
        if not runs:
            print("(no runs)")
        return 0

    return _with_client(args, act)


def _show(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        run = client.call("GET", f"/v1/runs/{args.run_id}")
        if args.json:
            print(json.dumps(run, indent=2))
        else:
            _print_run(run, verbose=True)
        return 0

    return _with_client(args, act)


def _cancel(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        run = client.call("POST", f"/v1/runs/{args.run_id}/cancel")
        if args.json:
            print(json.dumps(run, indent=2))
        else:
            print(f"{run['id']}: {run['status']}")
        return 0

    return _with_client(args, act)


def _check(args: argparse.Namespace) -> int:
    from podium.workflows.check import check_file

    failed = False
    for name in args.paths:
        problems = check_file(Path(name))
        if problems:
            failed = True
            for problem in problems:  # each names the file and the path in it
                print(problem)
        else:
            print(f"{name}: ok")
    return 1 if failed else 0


# ------------------------------------------------------------------ input and output


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if args.inputs:
        text = Path(args.inputs[1:]).read_text() if args.inputs.startswith("@") else args.inputs
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("--inputs must be a JSON object")
        inputs.update(loaded)
    for item in args.input:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--input {item!r}: expected NAME=VALUE")
        if value.startswith("@"):
            inputs[name] = Path(value[1:]).read_text()
            continue
        try:
            inputs[name] = json.loads(value)
        except ValueError:
            inputs[name] = value
    return inputs


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%m-%d %H:%M:%S", time.gmtime(epoch))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _event_line(event: str, data: dict[str, Any]) -> str:
    step = f" {data['step']}" if data.get("step") else ""
    detail = data.get("detail") or {}
    extra = f" {json.dumps(detail)}" if detail else ""
    return f"{_when(data.get('time'))} {event}{step}{extra}"


def _print_run(run: dict[str, Any], *, verbose: bool = False) -> None:
    print(f"run     {run['id']}")
    print(f"flow    {run['flow']}")
    print(f"status  {run['status']}")
    if run.get("error"):
        print(f"error   {run['error']}")
    print(f"time    {_ms(run.get('duration_ms'))} ms   cost {run['cost_usd']:.6f} USD")
    if run.get("review_id"):
        print(f"review  {run['review_id']}  (podium reviews approve|modify|reject {run['review_id']})")
    steps = run.get("steps") or []
    if steps:
        print(f"\n{'STEP':<24} {'KIND':<13} {'STATUS':<11} {'TRIES':>5} {'MS':>9} {'COST USD':>10}")
    for step in steps:
        print(
            f"{step['key'][:24]:<24} {step['kind']:<13} {step['status']:<11} {step['attempts']:>5} "
            f"{_ms(step.get('duration_ms')):>9} {step['cost_usd']:>10.6f}"
        )
        if verbose:
            if step.get("error"):
                print(f"    error:  {step['error']}")
            if step.get("output") is not None:
                print(f"    output: {_short(step['output'])}")
    if run.get("output") is not None:
        print(f"\noutput  {json.dumps(run['output'], indent=2) if verbose else _short(run['output'])}")


def _short(value: Any, width: int = 100) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 1] + "…"
