"""Tools of the support-ticket triage flow: plain Python functions the flow's ``tool`` steps call.

``assign_queue`` turns the model's classification into a queue and a response-time target, and
raises the urgency when the ticket names something the support desk treats as an incident whatever
the classifier said (an outage, data loss, a security problem).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["QUEUES", "assign_queue", "hand_off", "unclassified"]

# category -> (queue, hours to first answer at normal urgency)
QUEUES: dict[str, tuple[str, int]] = {
    "billing": ("billing-desk", 24),
    "technical": ("tier-2-engineering", 8),
    "account": ("account-services", 12),
    "other": ("general", 48),
}

_INCIDENT = re.compile(r"\b(outage|down|data loss|lost (?:all|our) data|breach|hacked|security)\b", re.I)
_SLA_FACTOR = {"low": 2.0, "normal": 1.0, "high": 0.5, "urgent": 0.125}


def assign_queue(
    classification: dict[str, Any] | None, text: str, fallback: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"queue", "urgency", "sla_hours", "incident"}`` for a ticket, from the classifier's answer
    (or the keyword ``fallback`` when the classifier ran out of time)."""
    chosen = classification or fallback or {}
    category = str(chosen.get("category", "other"))
    urgency = str(chosen.get("urgency", "normal"))
    queue, hours = QUEUES.get(category, QUEUES["other"])
    incident = _INCIDENT.search(text) is not None
    if incident:
        urgency = "urgent"
        if category == "other":
            queue = QUEUES["technical"][0]
    sla = max(1, round(hours * _SLA_FACTOR.get(urgency, 1.0)))
    return {"category": category, "queue": queue, "urgency": urgency, "sla_hours": sla, "incident": incident}


def unclassified(text: str) -> dict[str, Any]:
    """A stand-in classification when the classifier could not answer in time: by keywords only."""
    lowered = text.lower()
    category = next((name for name, words in _KEYWORDS.items() if any(w in lowered for w in words)), "other")
    return {"category": category, "urgency": "normal", "summary": text[:160]}


def hand_off(queue: str, reason: str | None) -> dict[str, Any]:
    """A rejected draft: the ticket goes to a person in ``queue`` with the reviewer's reason."""
    return {"assigned_to": f"human:{queue}", "reason": reason or ""}


_KEYWORDS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "charge", "refund", "payment", "price"),
    "technical": ("error", "api", "crash", "bug", "503", "500", "timeout"),
    "account": ("password", "login", "locked", "account", "sign in"),
}
