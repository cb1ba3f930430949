"""``podium reviews list | show | claim | approve | modify | reject``: the human-review queue.

Calls a running server's API (:mod:`podium.cli.api_client`) as the key given, so the decision is
audited with that key's identity and the paused run resumes on whichever replica is free.
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
    command = action_parsers(sub, name, help_text, "reviews_command")

    ls = command("list", "open review tasks (pending or claimed), oldest first")
    ls.add_argument("--status", help="pending, claimed, approved, modified, rejected, expired, cancelled")
    ls.add_argument("--role", help="only tasks for this role")
    ls.add_argument("--run", dest="run_id", help="only this run's tasks")
    ls.add_argument("--mine", action="store_true", help="only tasks your roles may decide")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(func=_list)

    show = command("show", "one task with the content to review and its schema")
    show.add_argument("review_id")
    show.set_defaults(func=_show)

    claim = command("claim", "take a task, so other reviewers see it is yours")
    claim.add_argument("review_id")
    claim.set_defaults(func=_claim)

    approve = command("approve", "approve the content as it is; the run continues")
    approve.add_argument("review_id")
    approve.add_argument("--reason", help="an optional note, kept with the decision")
    approve.set_defaults(func=lambda a: _decide(a, "approve"))

    modify = command("modify", "replace the content with an edited version (checked against its schema)")
    modify.add_argument("review_id")
    modify.add_argument("--content", required=True, metavar="JSON|@FILE", help="the edited content")
    modify.add_argument("--reason", help="an optional note, kept with the decision")
    modify.set_defaults(func=lambda a: _decide(a, "modify"))

    reject = command("reject", "reject the content; the run takes the flow's rejection path")
    reject.add_argument("review_id")
    reject.add_argument("--reason", required=True, help="why: routed with the run and audited")
    reject.set_defaults(func=lambda a: _decide(a, "reject"))


def _with_client(args: argparse.Namespace, action: Any) -> int:
    try:
        result: int = action(client_of(args))
        return result
    except ApiError as exc:
        return report(exc)


def _list(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        query = {
            "status": args.status,
            "role": args.role,
            "run_id": args.run_id,
            "mine": "1" if args.mine else None,
            "limit": max(1, min(args.limit, 1000)),
        }
        tasks = client.call("GET", "/v1/reviews", query=query)["data"]
        if args.json:
            for task in tasks:
                print(json.dumps(task))
            return 0
        print(
            f"{'REVIEW':<30} {'FLOW':<20} {'STEP':<14} {'ROLE':<14} {'STATUS':<9} {'DEADLINE (UTC)':<15} CLAIMED BY"
        )
        for t in tasks:
            print(
                f"{t['id']:<30} {t['flow'][:20]:<20} {t['step'][:14]:<14} {(t['role'] or '-')[:14]:<14} "
                f"{t['status']:<9} {_when(t['deadline']):<15} {t['claimed_by'] or '-'}"
            )
        if not tasks:
            print("(no review tasks)")
        return 0

    return _with_client(args, act)


def _show(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        task = client.call("GET", f"/v1/reviews/{args.review_id}")
        if args.json:
            print(json.dumps(task, indent=2))
            return 0
        print(f"review   {task['id']}  ({task['status']})")
        print(f"run      {task['run_id']}  flow {task['flow']}, step {task['step']}")
        print(
            f"role     {task['role'] or '-'}"
            + (f" (escalated to {task['escalation_role']})" if task["escalated"] else "")
        )
        print(f"deadline {_when(task['deadline'])}")
        if task["instructions"]:
            print(f"\n{task['instructions']}")
        print("\ncontent:")
        print(json.dumps(task["content"], indent=2))
        return 0

    return _with_client(args, act)


def _claim(args: argparse.Namespace) -> int:
    def act(client: ApiClient) -> int:
        task = client.call("POST", f"/v1/reviews/{args.review_id}/claim")
        print(json.dumps(task, indent=2) if args.json else f"{task['id']}: claimed by {task['claimed_by']}")
        return 0

    return _with_client(args, act)


def _decide(args: argparse.Namespace, decision: str) -> int:
    body: dict[str, Any] = {"decision": decision}
    if args.reason:
        body["reason"] = args.reason
    if decision == "modify":
        text = Path(args.content[1:]).read_text() if args.content.startswith("@") else args.content
        try:
            body["content"] = json.loads(text)
        except ValueError as exc:
            print(f"podium: --content is not JSON: {exc}", file=sys.stderr)
            return 2

    def act(client: ApiClient) -> int:
        answer = client.call("POST", f"/v1/reviews/{args.review_id}/decision", body)
        if args.json:
            print(json.dumps(answer, indent=2))
            return 0
        review = answer["review"]
        print(f"{review['id']}: {review['status']} by {review['decided_by']}; run {review['run_id']} resumes")
        for op in answer["diff"]:
            value = f" {json.dumps(op['value'])}" if "value" in op else ""
            print(f"  {op['op']} {op['path']}{value}")
        return 0

    return _with_client(args, act)


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%m-%d %H:%M:%S", time.gmtime(epoch))
