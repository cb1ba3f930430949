"""The ``workflows`` section of ``podium.yaml``: where flows come from and how runs execute (docs/workflows.md).

::

    workflows:
      flows: [flows/]             # flow files (*.yaml, *.yml) or directories of them, relative to the working directory
      poll_interval_ms: 500       # how often an idle worker looks for runnable runs
      lease_seconds: 30           # a run's lease; renewed every third of it; a dead replica's runs resume after it
      max_concurrent_runs: 16     # runs one replica executes at a time
      retention_days: 30          # finished runs older than this are deleted (0: kept forever)
      worker: true                # false: serve the API only; other replicas execute the runs
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["WorkflowSettings"]


class WorkflowSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Flow definitions, and the worker that executes runs inside ``podium serve``."""

    flows: Annotated[
        tuple[str, ...],
        Meta(description="Flow definition files (*.yaml, *.yml) or directories of them."),
    ] = ()
    poll_interval_ms: Annotated[
        int, Meta(ge=10, le=60_000, description="How often an idle worker looks for runnable runs.")
    ] = 500
    lease_seconds: Annotated[
        float,
        Meta(
            ge=0.5,
            le=3600,
            description="How long a replica holds a run without renewing; a crashed replica's runs resume after it.",
        ),
    ] = 30.0
    max_concurrent_runs: Annotated[
        int, Meta(ge=1, le=10_000, description="Runs one replica executes at the same time.")
    ] = 16
    retention_days: Annotated[
        float, Meta(ge=0, description="Finished runs older than this are deleted; 0 keeps them forever.")
    ] = 30.0
    worker: Annotated[
        bool, Meta(description="Whether this replica executes runs (false: it serves the API only).")
    ] = True
