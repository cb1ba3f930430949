"""A flow's definition: the one model behind YAML files and the Python API.

A flow is a list of steps, run in order unless a step says where to go next (``next``, a branch's
``goto``, a timeout's ``fallback``, a review's ``on_reject``, the flow's ``on_error``); ``end`` ends
the run. Each step's ``kind`` picks its record type::

    llm           a model call through the gateway's pipeline (prompt reference or inline messages)
    retrieve      passages from knowledge bases, with the run's access rights
    tool          a registered Python function, or an HTTP call
    branch        the first case whose condition holds (podium.workflows.conditions)
    map           one inline step per item of a list, at most ``concurrency`` at a time
    validate      a value against a JSON Schema and/or a guardrail policy
    human_review  pause until a person approves, modifies or rejects
    subflow       another flow, its outputs as this step's output

Strings in messages, prompt variables, queries and HTTP fields are templates (``{{ expr }}``); the
values of ``args``, ``outputs``, ``over``, ``content``, ``input`` and subflow ``inputs`` are expressions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "END",
    "BranchCase",
    "BranchStep",
    "Escalation",
    "Flow",
    "HttpCall",
    "HumanReviewStep",
    "LlmStep",
    "MapStep",
    "MessageTemplate",
    "PromptTemplate",
    "RetrieveStep",
    "Retry",
    "Step",
    "SubflowStep",
    "ToolStep",
    "ValidateStep",
]

END = "end"
OnTimeout = Literal["fail", "fallback", "skip"]
Id = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class _Def(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Retry(_Def, frozen=True, kw_only=True):
    """How often a failed step is tried again, and how long to wait between tries."""

    attempts: Annotated[int, Meta(ge=1, le=100)] = 1  # tries in all, the first included
    backoff_ms: Annotated[int, Meta(ge=0)] = 200
    multiplier: Annotated[float, Meta(ge=1)] = 2.0


class _Step(_Def, frozen=True, kw_only=True, tag_field="kind"):
    id: Id | Literal[""] = ""  # required for the flow's steps; an inline map step needs none
    description: str | None = None
    next: str | None = None  # the step after this one (default: the next in the list; "end" ends)
    retry: Retry | None = None
    timeout_ms: Annotated[int, Meta(ge=1)] | None = None  # per attempt
    budget_ms: Annotated[int, Meta(ge=1)] | None = None  # the whole step, retries included
    on_timeout: OnTimeout = "fail"  # when the budget (or the last attempt's timeout) runs out
    fallback: str | None = None  # the step to go to with on_timeout: fallback
    max_visits: Annotated[int, Meta(ge=1)] | None = None  # bounds a cycle through this step


class MessageTemplate(_Def, frozen=True, kw_only=True):
    role: Literal["system", "user", "assistant", "developer"]
    content: str  # a template


class PromptTemplate(_Def, frozen=True, kw_only=True):
    """A registry prompt: ``label`` or ``version`` (neither: ``production``); variables are templates."""

    name: str
    label: str | None = None
    version: int | None = None
    variables: dict[str, Any] = {}


class LlmStep(_Step, frozen=True, kw_only=True, tag="llm"):
    model: str | None = None  # a public model or route name; the prompt's model when omitted
    prompt: PromptTemplate | None = None
    messages: tuple[MessageTemplate, ...] = ()
    output_schema: dict[str, Any] | None = None  # the answer must be JSON valid against it
    temperature: float | None = None
    max_tokens: Annotated[int, Meta(ge=1)] | None = None


class RetrieveStep(_Step, frozen=True, kw_only=True, tag="retrieve"):
    knowledge_bases: tuple[str, ...]
    query: str  # a template
    k: Annotated[int, Meta(ge=1, le=50)] = 4
    filter: dict[str, Any] | None = None
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"


class HttpCall(_Def, frozen=True, kw_only=True):
    url: str  # a template
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = {}  # values are templates
    body: dict[str, Any] | None = None  # values are expressions; sent as JSON
    timeout_ms: Annotated[int, Meta(ge=1)] = 10_000


class ToolStep(_Step, frozen=True, kw_only=True, tag="tool"):
    function: str | None = None  # "file.py:fn" (beside the flow file), "pkg.module:fn", or a registered name
    http: HttpCall | None = None
    args: dict[str, Any] = {}  # keyword arguments: each value an expression


class BranchCase(_Def, frozen=True, kw_only=True):
    when: str  # a condition
    goto: str


class BranchStep(_Step, frozen=True, kw_only=True, tag="branch"):
    cases: tuple[BranchCase, ...]
    default: str | None = None  # when no case holds (default: the next step)


class ValidateStep(_Step, frozen=True, kw_only=True, tag="validate"):
    input: str  # an expression
    schema: dict[str, Any] | None = None
    policy: str | None = None  # a guardrail policy of the configuration
    on_fail: str | None = None  # the step to go to when the value is invalid (default: the step fails)


class Escalation(_Def, frozen=True, kw_only=True):
    after_s: Annotated[float, Meta(gt=0)]
    role: str


class HumanReviewStep(_Step, frozen=True, kw_only=True, tag="human_review"):
    content: str  # an expression: what the reviewer sees, and may edit
    schema: dict[str, Any] | None = None  # an edit must validate against it
    role: str | None = None
    instructions: str | None = None
    deadline_s: Annotated[float, Meta(gt=0)] | None = (
        None  # then on_timeout: fail | fallback | skip (approve as is)
    )
    escalation: Escalation | None = None
    on_reject: str | None = None  # the step to go to on a rejection (default: the run fails)


class SubflowStep(_Step, frozen=True, kw_only=True, tag="subflow"):
    flow: str
    inputs: dict[str, Any] = {}  # each value an expression


Inline = LlmStep | ToolStep | RetrieveStep | SubflowStep


class MapStep(_Step, frozen=True, kw_only=True, tag="map"):
    over: str  # an expression giving a list
    as_: str = msgspec.field(default="item", name="as")
    concurrency: Annotated[int, Meta(ge=1, le=1000)] = 4
    step: Inline


Step = LlmStep | RetrieveStep | ToolStep | BranchStep | MapStep | ValidateStep | HumanReviewStep | SubflowStep


class Flow(_Def, frozen=True, kw_only=True):
    """A named flow of steps with explicit inputs (a JSON Schema) and outputs (expressions)."""

    name: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str | None = None
    inputs: dict[str, Any] | None = None  # JSON Schema of the run's inputs
    outputs: dict[str, str] = {}  # name -> expression
    steps: tuple[Step, ...]
    budget_ms: Annotated[int, Meta(ge=1)] | None = None  # the whole run, time waiting for reviews excluded
    on_timeout: Literal["fail", "fallback"] = "fail"
    fallback: str | None = None
    on_error: str | None = None  # the step to go to when a step fails (its error is `error.message`)
    source: str | None = None  # the file it was read from: "file.py:fn" tools resolve beside it

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
