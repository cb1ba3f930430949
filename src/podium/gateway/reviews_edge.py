"""The review queue: list, read, claim and decide the tasks paused runs wait on.

::

    GET  /v1/reviews                         open tasks (or by status), oldest first   reviews:read
    GET  /v1/reviews/{review_id}             one task                                  reviews:read
    POST /v1/reviews/{review_id}/claim       take a task, so others see it is taken    reviews:decide
    POST /v1/reviews/{review_id}/decision    approve | modify | reject                 reviews:decide

Beyond the permission, a task names the role whose holders may take and decide it (``legal``), and
after its escalation time also the escalation role (``legal-lead``); ``owner`` and ``admin`` may act
on any task of their tenant. A task claimed by one reviewer is theirs to decide (``409 review_claimed``
for anyone else, owners included). A decision is final: deciding a decided task is a 409, and a ``modify``
whose edit breaks the step's schema is a 400 that changes nothing. Each decision is audited as
``review.decided`` with the reviewer, the decision, the reason and the edit as a JSON Patch diff.
The run then resumes on whichever replica's worker is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec
from aiohttp import web

from podium.audit.events import admin_event
from podium.errors import PermissionDenied, RequestError
from podium.gateway.admin import decode_body
from podium.gateway.http_io import read_json_body
from podium.gateway.permissions import admin_route, query_limit
from podium.gateway.router import Route
from podium.gateway.workflow_views import ReviewView, review_view
from podium.identity.principal import Principal
from podium.storage.workflow_records import ReviewQuery, ReviewStatus, ReviewTask

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "may_act_on"]

_STATUSES = ("pending", "claimed", "approved", "modified", "rejected", "expired", "cancelled")
_ANY_TASK = frozenset({"owner", "admin"})


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: Literal["approve", "modify", "reject"]
    content: Any = msgspec.UNSET  # modify: the edited content, checked against the step's schema
    reason: str | None = None  # reject: required; approve and modify: an optional note


class DecisionView(msgspec.Struct, frozen=True):
    review: ReviewView
    diff: list[dict[str, Any]]  # RFC 6902 operations from the content shown to the content decided
    object: str = "review.decision"


def may_act_on(principal: Principal, task: ReviewTask) -> bool:
    """Whether ``principal`` may claim or decide ``task`` (its permission is checked separately)."""
    if task.role is None or _ANY_TASK.intersection(principal.roles):
        return True
    if task.role in principal.roles:
        return True
    return task.escalated and task.escalation_role is not None and task.escalation_role in principal.roles


def _check_role(principal: Principal, task: ReviewTask) -> None:
    if not may_act_on(principal, task):
        roles = [r for r in (task.role, task.escalation_role if task.escalated else None) if r]
        raise PermissionDenied(
            f"Review {task.id} is for the {' or '.join(repr(r) for r in roles)} role, which you do not hold.",
            code="review_role",
        )


_REVIEW_QUERY = (
    ("status", "pending, claimed, approved, modified, rejected, expired or cancelled (default: open ones)"),
    ("role", "only tasks for this role"),
    ("run_id", "only this run's tasks"),
    ("mine", "1: only tasks the caller's roles may decide"),
    ("limit", "1 to 1000 (default 100)"),
)


@admin_route("reviews:read", response=list[ReviewView], query=_REVIEW_QUERY)
async def list_reviews(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's review tasks, oldest first: open ones (pending or claimed) by default."""
    q = request.query
    limit = query_limit(request, 100)
    status = q.get("status") or None
    if status is not None and status not in _STATUSES:
        raise RequestError(f"'status' must be one of {', '.join(_STATUSES)}.", param="status")
    tasks = await gw.workflows.reviews.list(
        ReviewQuery(
            tenant=principal.tenant,
            status=cast(ReviewStatus | None, status),  # checked against _STATUSES above
            role=q.get("role") or None,
            run_id=q.get("run_id") or None,
            limit=limit,
        )
    )
    if q.get("mine") in ("1", "true", "yes"):
        tasks = [t for t in tasks if may_act_on(principal, t)]
    return 200, {"object": "list", "data": [review_view(t) for t in tasks]}


@admin_route("reviews:read", response=ReviewView)
async def get_review(
    gw: Gateway, request: web.BaseRequest, principal: Principal, review_id: str
) -> tuple[int, Any]:
    """One review task: the content to review, its schema, role, deadline and state."""
    return 200, review_view(await gw.workflows.reviews.get(review_id, tenant=principal.tenant))


@admin_route("reviews:decide", response=ReviewView)
async def claim_review(
    gw: Gateway, request: web.BaseRequest, principal: Principal, review_id: str
) -> tuple[int, Any]:
    """Take a task: others see who has it. Claiming your own claim again is harmless; another's is a 409."""
    task = await gw.workflows.reviews.get(review_id, tenant=principal.tenant)
    _check_role(principal, task)
    claimed = await gw.workflows.reviews.claim(review_id, tenant=principal.tenant, reviewer=principal.actor)
    return 200, review_view(claimed)


@admin_route("reviews:decide", body=Decision, response=DecisionView)
async def decide_review(
    gw: Gateway, request: web.BaseRequest, principal: Principal, review_id: str
) -> tuple[int, Any]:
    """Approve, modify (with the edited content) or reject (with a reason); the run then resumes."""
    raw = await read_json_body(request, gw.config.server.max_body_bytes)
    body: Decision = decode_body(raw, Decision, "decision")
    if body.decision == "modify" and body.content is msgspec.UNSET:
        raise RequestError("A 'modify' decision needs the edited 'content'.", param="content")
    if body.decision != "modify" and body.content is not msgspec.UNSET:
        raise RequestError(f"Only 'modify' takes 'content'; '{body.decision}' does not.", param="content")
    if body.decision == "reject" and not (body.reason or "").strip():
        raise RequestError("A 'reject' decision needs a 'reason': it is routed with the run.", param="reason")
    task = await gw.workflows.reviews.get(review_id, tenant=principal.tenant)
    _check_role(principal, task)
    decided = await gw.workflows.reviews.decide(
        review_id,
        tenant=principal.tenant,
        reviewer=principal.actor,
        decision=body.decision,
        content=None if body.content is msgspec.UNSET else body.content,
        reason=body.reason,
    )
    done = decided.task
    gw.audit.submit(
        admin_event(
            principal,
            action="review.decided",
            resource=f"/v1/reviews/{done.id}",
            details={
                "review_id": done.id,
                "run_id": done.run_id,
                "flow": done.flow,
                "step": done.step_key,
                "decision": body.decision,
                "reviewer": principal.actor,
                "reason": body.reason,
                "diff": decided.diff,
            },
        )
    )
    return 200, DecisionView(review_view(done), list(decided.diff))


ROUTES = [
    Route("GET", "/v1/reviews", list_reviews),
    Route("GET", "/v1/reviews/{review_id}", get_review),
    Route("POST", "/v1/reviews/{review_id}/claim", claim_review),
    Route("POST", "/v1/reviews/{review_id}/decision", decide_review),
]
