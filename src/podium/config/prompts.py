"""The ``prompts`` section of ``podium.yaml``: the prompt registry's rules and limits (docs/prompts.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["PromptSettings"]


class PromptSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The prompt registry: which labels are protected, and how far a template may go when rendered."""

    enabled: Annotated[
        bool, Meta(description="Whether requests may reference registry prompts (model 'prompt:NAME@LABEL').")
    ] = True
    protected_labels: Annotated[
        tuple[Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_-]{0,63}$")], ...],
        Meta(description="Labels that only holders of the prompts:promote permission may move."),
    ] = ("production",)
    require_approval: Annotated[
        bool,
        Meta(
            description="Whether moving a protected label also needs a second, different person's approval "
            "of that exact move."
        ),
    ] = False
    max_output_chars: Annotated[
        int, Meta(ge=1, description="The most characters one rendering of a prompt may produce.")
    ] = 1_000_000
    max_render_steps: Annotated[
        int,
        Meta(
            ge=1,
            description="The most loop iterations, calls and filters one rendering of a prompt may take.",
        ),
    ] = 100_000
