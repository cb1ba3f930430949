"""The review queue: list, claim and decide the tasks that paused runs wait on.

A decision and the requeueing of its run are one transaction (:meth:`WorkflowStore.decide_review`),
so a run resumes exactly once, on whichever replica's worker is free first. Deciding a task that was
decided already is a :class:`~podium.storage.base.ReviewConflict` (409); a ``modify`` whose edit does
not match the task's schema is a :class:`~podium.errors.RequestError` (400) and changes nothing. The
audit entry (reviewer, decision, diff) is the API's to write: it knows the caller's request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from podium.audit.json_diff import json_diff
from podium.errors import NotFound, RequestError
from podium.storage.base import ReviewConflict
from podium.storage.workflow_records import OPEN_REVIEW, ReviewQuery, ReviewTask
from podium.workflows.schemas import schema_error

if TYPE_CHECKING:
    from podium.workflows.service import Workflows

__all__ = ["Decision", "ReviewDecision", "Reviews"]

Decision = Literal["approve", "modify", "reject"]
_STATUS: dict[str, Literal["approved", "modified", "rejected"]] = {
    "approve": "approved",
    "modify": "modified",
    "reject": "rejected",
}


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    task: ReviewTask
    diff: list[dict[str, Any]]  # JSON-patch-like changes from the content shown to the content decided


class Reviews:
    def __init__(self, service: Workflows) -> None:
        self._service = service

    async def list(self, query: ReviewQuery) -> list[ReviewTask]:
        return await self._service.store.list_reviews(query)

    async def get(self, task_id: str, *, tenant: str) -> ReviewTask:
        task = await self._service.store.get_review(task_id, tenant=tenant)
        if task is None:
            raise NotFound(f"No review '{task_id}'.", code="review_not_found")
        return task

    async def claim(self, task_id: str, *, tenant: str, reviewer: str) -> ReviewTask:
        task = await self._service.store.claim_review(
            task_id, tenant=tenant, reviewer=reviewer, at=time.time()
        )
        if task is None:
            raise NotFound(f"No review '{task_id}'.", code="review_not_found")
        self._service.notify(task.run_id)
        return task

    async def decide(
        self,
        task_id: str,
        *,
        tenant: str,
        reviewer: str,
        decision: Decision,
        content: Any = None,
        reason: str | None = None,
    ) -> ReviewDecision:
        task = await self.get(task_id, tenant=tenant)
        if task.status not in OPEN_REVIEW:
            raise ReviewConflict(f"The review {task_id} was already decided ({task.status}).")
        if decision not in _STATUS:
            raise RequestError("decision must be approve, modify or reject", param="decision")
        result = task.content
        if decision == "modify":
            if content is None:
                raise RequestError("A modify decision needs the edited content.", param="content")
            if task.schema is not None:
                problem = schema_error(task.schema, content)
                if problem is not None:
                    raise RequestError(
                        f"The edited content does not match the review's schema: {problem}", param="content"
                    )
            result = content
        if decision == "reject" and not (reason and reason.strip()):
            raise RequestError("A rejection needs a reason.", param="reason")
        decided = await self._service.store.decide_review(
            task_id,
            tenant=tenant,
            reviewer=reviewer,
            at=time.time(),
            status=_STATUS[decision],
            result=result,
            reason=reason,
        )
        if decided is None:
            raise NotFound(f"No review '{task_id}'.", code="review_not_found")
        self._service.worker.wake()
        self._service.notify(task.run_id, True)
        return ReviewDecision(task=decided, diff=json_diff(task.content, result))
