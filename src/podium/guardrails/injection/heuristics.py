"""Hand-written rules for the injection phrasings that are unambiguous whatever the classifier says.

Each rule has a name (reported as the finding's detail), a score and trigger words. They run on the
normalized text (:func:`podium.guardrails.injection.features.normalize`).
"""

from __future__ import annotations

import re

__all__ = ["RULES", "match_rules"]

_PRIOR = r"(?:previous|prior|preceding|above|earlier|former|initial|original|system|all|any|your|the|these|those|my)"
_ORDERS = r"(?:instructions?|prompts?|rules|directions|guidelines|context|commands?|constraints|programming|messages?)"

# name -> (score, words of which one must occur for the rule to be tried, pattern)
RULES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "ignore_instructions": (
        0.97,
        ("ignore", "disregard", "forget", "skip", "override", "bypass", "abandon", "drop"),
        r"\b(?:ignore|disregard|forget|skip|override|bypass|abandon|drop)\b[\w\s,]{0,20}?\b"
        + _PRIOR
        + r"\b[\w\s]{0,20}?\b"
        + _ORDERS
        + r"\b",
    ),
    "new_instructions": (
        0.9,
        ("instruction", "task", "rules", "system prompt"),
        r"\b(?:new|updated|real|actual|true)\s+(?:instructions?|task|rules|system prompt)\s*(?::|are|is)",
    ),
    "reveal_prompt": (
        0.95,
        ("prompt", "instruction", "message", "rules"),
        r"\b(?:reveal|show|print|repeat|output|display|tell me|give me|what (?:is|are|was|were))\b[\w\s]{0,20}?"
        r"\b(?:your|the)\s+(?:system|initial|hidden|original|secret|internal|first)\s+(?:prompt|instructions?|message|rules)",
    ),
    "jailbreak_names": (
        0.97,
        (
            "dan",
            "do anything",
            "developer mode",
            "jailbreak",
            "god mode",
            "confidant",
            "aim mode",
            "stan mode",
        ),
        r"\b(?:dan|do anything now|developer mode|jailbreak(?:ed)?|god mode|evil confidant|aim mode|stan mode)\b"
        r"(?=[\w\s,]{0,40}\b(?:enabled|mode|prompt|you|act|as|now)\b)",
    ),
    "no_restrictions": (
        0.9,
        ("restriction", "limitation", "filter", "censorship", "guideline", "rules", "ethical", "moral"),
        r"\b(?:without|no|free (?:of|from)|ignore)\s+(?:any\s+)?(?:restrictions|limitations|filters|censorship|guidelines|rules|ethical|moral)\b"
        r"[\w\s,]{0,30}?\b(?:respond|answer|act|reply|you)\b",
    ),
    "role_tags": (
        0.95,
        ("<|", "inst]", "<<", "###", "system"),
        r"<\|im_start\|>|<\|system\|>|\[/?inst\]|<</?sys>>|###\s*(?:system|instruction)s?\s*:|\bsystem\s*:\s*you\b",
    ),
}

_COMPILED = [
    (name, score, triggers, re.compile(pattern)) for name, (score, triggers, pattern) in RULES.items()
]


def match_rules(normalized: str) -> tuple[str, float] | None:
    """The highest-scoring rule that matches the normalized text, or ``None``.

    A rule's pattern is tried only when one of its trigger words occurs: a substring test costs a
    fraction of what a pattern with bounded gaps costs at every position of the text.
    """
    best: tuple[str, float] | None = None
    for name, score, triggers, pattern in _COMPILED:
        if (
            (best is None or score > best[1])
            and any(t in normalized for t in triggers)
            and pattern.search(normalized)
        ):
            best = (name, score)
    return best
