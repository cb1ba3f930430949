"""What can go wrong in a workflow, as part of Podium's one exception tree (:mod:`podium.errors`)::

    PodiumError
    ├── RequestError  400
    │   └── InvalidInputs          a run's inputs do not match the flow's input schema
    ├── NotFound      404
    │   └── FlowNotFound           no flow by that name is loaded
    ├── Conflict      409
    │   └── ReviewConflict         the review was decided already, or is claimed by another (storage.base)
    ├── LeaseLost     409          another replica took the run over (storage.base)
    └── StepFailed                 a step failed for good (after its retries); ``retryable`` says whether
        └── StepTimedOut           its attempt timeout or budget ran out

A malformed definition is a :class:`~podium.errors.ConfigError`, each problem with its path.
"""

from __future__ import annotations

from podium.errors import NotFound, PodiumError, RequestError
from podium.storage.base import LeaseLost, ReviewConflict

__all__ = ["FlowNotFound", "InvalidInputs", "LeaseLost", "ReviewConflict", "StepFailed", "StepTimedOut"]


class InvalidInputs(RequestError):
    code = "invalid_inputs"


class FlowNotFound(NotFound):
    code = "flow_not_found"


class StepFailed(PodiumError):
    """A step's attempt failed; ``retryable`` is False when trying again cannot help."""

    code = "step_failed"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class StepTimedOut(StepFailed):
    code = "step_timed_out"
