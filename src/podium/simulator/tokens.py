"""Token counting for the simulator's usage figures.

A cheap deterministic approximation — about four characters per token — kept in this one function so
an exact tokenizer can replace it without touching the rest of the simulator.
"""

from __future__ import annotations

__all__ = ["count_tokens", "truncate_to_tokens"]


def count_tokens(text: str) -> int:
    """Roughly how many tokens ``text`` is: its length over four, rounded up."""
    return (len(text) + 3) // 4


def truncate_to_tokens(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that :func:`count_tokens` counts as at most ``limit`` tokens."""
    return text[: max(0, limit) * 4]
