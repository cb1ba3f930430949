"""Whether a request references a registry prompt — for inbound edges, before the pipeline runs.

Kept free of heavy imports (no Jinja2): every edge's parser may call it. A request that references a
prompt may leave its own ``messages`` empty, since the prompt supplies them; the prompt step
(:mod:`podium.prompts.step`) checks the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MODEL_PREFIX", "names_prompt"]

MODEL_PREFIX = "prompt:"


def names_prompt(model: str, extra: Mapping[str, Any] | None) -> bool:
    """``model`` is ``prompt:…``, or the body carries a ``podium.prompt`` object (kept in ``extra``)."""
    if model.startswith(MODEL_PREFIX):
        return True
    podium = extra.get("podium") if extra else None
    return isinstance(podium, dict) and "prompt" in podium
