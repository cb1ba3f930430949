"""Durable workflows: flows of steps with checkpoints, leases, budgets and human review (docs/workflows.md).

Definitions (:mod:`~podium.workflows.definition`) are read from YAML or built in Python; the engine
(:mod:`~podium.workflows.engine`) executes a run step by step, checkpointing each step's result before
the next starts; the worker (:mod:`~podium.workflows.worker`) leases runnable runs inside
``podium serve``; the service (:mod:`~podium.workflows.service`) is what the API and CLI call.
"""

from __future__ import annotations

from podium.workflows.check import check_file, check_flow, check_flows, load_flow, parse_flow
from podium.workflows.conditions import ExpressionError, compile_expression, render
from podium.workflows.definition import (
    BranchCase,
    BranchStep,
    Escalation,
    Flow,
    HttpCall,
    HumanReviewStep,
    LlmStep,
    MapStep,
    MessageTemplate,
    PromptTemplate,
    RetrieveStep,
    Retry,
    Step,
    SubflowStep,
    ToolStep,
    ValidateStep,
)
from podium.workflows.tools import tool

__all__ = [
    "BranchCase",
    "BranchStep",
    "Escalation",
    "ExpressionError",
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
    "check_file",
    "check_flow",
    "check_flows",
    "compile_expression",
    "load_flow",
    "parse_flow",
    "render",
    "tool",
]
