"""The upstream's own account of an answer (Bedrock's guardrail trace), handed to the caller and the record.

Bedrock runs the guardrail a deployment names (``guardrail_identifier``) and sends its trace with the
answer. The caller gets it verbatim as the ``upstream_trace`` extension field (``podium`` on the
answer, as RAG citations are), whatever API it spoke; the request record gets one
:class:`~podium.storage.records.GuardrailVerdict` per guardrail and stage, with what was found by type
(``topic:…``, ``HATE``, ``EMAIL``…) and never the matched text.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from podium.gateway.call import Call
from podium.storage.records import GuardrailVerdict

__all__ = ["EXTENSION", "note_trace", "verdicts"]

EXTENSION = "upstream_trace"
SCANNER = "bedrock-guardrail"

_ACTIONS: dict[str, Literal["block", "redact"]] = {"BLOCKED": "block", "ANONYMIZED": "redact"}
_RANK = {"allow": 0, "redact": 1, "block": 2}

# policy -> (list field, what names a finding): Bedrock's assessment shape
_FINDINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "topicPolicy": (("topics", "name"),),
    "contentPolicy": (("filters", "type"),),
    "wordPolicy": (("customWords", ""), ("managedWordLists", "type")),
    "sensitiveInformationPolicy": (("piiEntities", "type"), ("regexes", "name")),
    "contextualGroundingPolicy": (("filters", "type"),),
}


def _assessment(assessment: Any, kinds: list[str]) -> tuple[str, int]:
    """The strongest action in one assessment, and how many findings it holds (their kinds appended)."""
    action, count = "allow", 0
    if not isinstance(assessment, dict):
        return action, count
    for policy, lists in _FINDINGS.items():
        section = assessment.get(policy)
        if not isinstance(section, dict):
            continue
        for field, name in lists:
            for finding in section.get(field) or ():
                if not isinstance(finding, dict):
                    continue
                count += 1
                kind = str(finding.get(name) or "WORD") if name else "WORD"
                kinds.append(f"topic:{kind}" if policy == "topicPolicy" else kind)
                found = _ACTIONS.get(str(finding.get("action", "")), "allow")
                if _RANK[found] > _RANK[action]:
                    action = found
    return action, count


def verdicts(trace: Any) -> tuple[GuardrailVerdict, ...]:
    """One verdict per guardrail and stage in a Bedrock trace (``{"guardrail": {...}}``)."""
    guardrail = trace.get("guardrail") if isinstance(trace, dict) else None
    if not isinstance(guardrail, dict):
        return ()
    out: list[GuardrailVerdict] = []
    stages: tuple[tuple[Literal["input", "output"], str], ...] = (
        ("input", "inputAssessment"),
        ("output", "outputAssessments"),
    )
    for stage, field in stages:
        by_id = guardrail.get(field)
        if not isinstance(by_id, dict):
            continue
        for guardrail_id, assessed in by_id.items():
            kinds: list[str] = []
            action, count = "allow", 0
            for assessment in assessed if isinstance(assessed, list) else [assessed]:
                found, n = _assessment(assessment, kinds)
                count += n
                if _RANK[found] > _RANK[action]:
                    action = found
            out.append(
                GuardrailVerdict(
                    policy=str(guardrail_id),
                    scanner=SCANNER,
                    stage=stage,
                    action="block" if action == "block" else "redact" if action == "redact" else "allow",
                    kinds=tuple(dict.fromkeys(kinds)),
                    count=count,
                )
            )
    return tuple(out)


def note_trace(call: Call, trace: msgspec.Raw | None) -> None:
    """Put the upstream's trace on the answer's extension fields and its verdicts on the record."""
    if trace is None:
        return
    call.extensions[EXTENSION] = trace
    try:
        decoded = msgspec.json.decode(trace)
    except msgspec.DecodeError:
        return  # passed through as the upstream sent it; nothing the record can read
    call.guardrails = (*call.guardrails, *verdicts(decoded))
