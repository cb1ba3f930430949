"""Tools of the contract-analysis flow: plain Python functions the flow's ``tool`` steps call.

``red_flags`` is the legal team's checklist of clauses a person must always see, whatever a model
thinks of the contract: deterministic, so the flow pauses for review on those contracts with any
model — including the simulated one, whose assessment is the same for every contract.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["RULES", "parse", "red_flags", "returned", "sections", "withheld"]

# (rule, severity, pattern): a pattern is searched in each numbered section, case-insensitively.
RULES: tuple[tuple[str, str, str], ...] = (
    ("unlimited liability", "high", r"liability[^.]*\bunlimited\b|\bunlimited liability\b"),
    ("uncapped indemnity", "high", r"indemnif\w*[^.]*\bwithout limitation\b"),
    ("unilateral price change", "high", r"change the (?:fees|prices?)[^.]*(?:at any time|sole discretion)"),
    ("exclusivity", "high", r"\bexclusively\b"),
    ("post-term non-compete", "high", r"after the term[^.]*shall not (?:purchase|compete|work)"),
    ("automatic renewal", "medium", r"\brenews? automatically\b"),
    ("customer data reuse", "medium", r"may use customer data|share [^.]*data with third parties"),
    ("jury waiver", "medium", r"waives? any right to a jury"),
    ("termination for convenience by the other side", "medium", r"provider may terminate[^.]*convenience"),
    ("non-solicitation", "low", r"\bshall (?:not )?solicit\b"),
)

_SECTION = re.compile(r"^\s*(\d+)\.\s+([^.\n]+)\.\s*(.*)$")
_LEVELS = {"low": 0, "medium": 1, "high": 2}


def sections(text: str) -> list[dict[str, Any]]:
    """The contract's numbered sections: ``{"number", "title", "text"}``, in order.

    A section runs from its ``N. Title.`` line to the next one; lines before the first (the title,
    the parties) and after the last numbered section that are signatures are left out.
    """
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            number, title, rest = match.groups()
            found.append({"number": int(number), "title": title.strip(), "text": rest.strip()})
        elif found and line.strip() and not line.lstrip().lower().startswith("signed"):
            found[-1]["text"] = f"{found[-1]['text']} {line.strip()}".strip()
    return found


def red_flags(text: str) -> dict[str, Any]:
    """The checklist's findings in ``text``, and the contract's level: the most severe finding's.

    Returns ``{"level": "low" | "medium" | "high", "flags": [{"rule", "severity", "section",
    "excerpt"}]}``; a contract with no finding is ``low``.
    """
    flags: list[dict[str, Any]] = []
    parts = sections(text) or [{"number": 0, "title": "", "text": text}]
    for part in parts:
        body = " ".join(part["text"].split())
        for rule, severity, pattern in RULES:
            hit = re.search(pattern, body, re.IGNORECASE)
            if hit is not None:
                flags.append(
                    {
                        "rule": rule,
                        "severity": severity,
                        "section": f"{part['number']}. {part['title']}".strip(". "),
                        "excerpt": _sentence(body, hit.start()),
                    }
                )
    level = max((f["severity"] for f in flags), key=_LEVELS.__getitem__, default="low")
    return {"level": level, "flags": flags}


def _sentence(text: str, at: int) -> str:
    start = text.rfind(". ", 0, at) + 1
    end = text.find(". ", at)
    return text[start : end + 1 if end != -1 else len(text)].strip()


def parse(text: str, title: str | None = None) -> dict[str, Any]:
    """The contract as data: its title (the first non-empty line unless given), sections and size."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    found = sections(text)
    return {"title": title or first, "sections": found, "section_count": len(found), "characters": len(text)}


def returned(reason: str | None, reviewer: str | None, flags: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What a rejected contract becomes: returned to the requester with the reviewer's reason."""
    return {
        "status": "returned",
        "reason": reason or "",
        "reviewer": reviewer or "",
        "open_flags": [f["rule"] for f in flags or []],
    }


def withheld() -> dict[str, Any]:
    """What replaces a summary that failed its check: a note instead of the text."""
    return {
        "summary": "Summary withheld: it repeated bank or card numbers from the contract. Read the contract itself.",
        "withheld": True,
    }
