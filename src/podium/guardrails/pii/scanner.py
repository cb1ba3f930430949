"""The PII scanner: the configured detectors over one text, overlaps resolved, in text order."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from podium.guardrails.pii import patterns
from podium.guardrails.pii.national import NATIONAL_DETECTORS
from podium.guardrails.pii.secrets import find_secrets
from podium.guardrails.scanner import Finding, LocalScanner, Scan, ScanContext

__all__ = ["ENTITIES", "ENTITY_GROUPS", "NER_ENTITIES", "PATTERN_ENTITIES", "PiiScanner", "expand_entities"]

NATIONAL_IDS = tuple(NATIONAL_DETECTORS)
PATTERN_ENTITIES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    *NATIONAL_IDS,
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "SECRET",
)
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION", "ORGANIZATION")
ENTITIES = PATTERN_ENTITIES + NER_ENTITIES
ENTITY_GROUPS: dict[str, tuple[str, ...]] = {"NATIONAL_ID": NATIONAL_IDS}

# When two findings overlap, the more certain kind wins (a checksummed number over a phone number).
_PRIORITY = {
    "SECRET": 90,
    "CREDIT_CARD": 80,
    "IBAN": 80,
    **dict.fromkeys(NATIONAL_IDS, 70),
    "EMAIL": 60,
    "IP_ADDRESS": 50,
    "PHONE": 40,
    "DATE_OF_BIRTH": 30,
    "PERSON": 20,
    "ORGANIZATION": 20,
    "LOCATION": 20,
}


def expand_entities(names: Iterable[str]) -> tuple[str, ...]:
    """Entity names with groups (``NATIONAL_ID``) expanded, in a stable order, without repeats."""
    out: list[str] = []
    for name in names:
        for entity in ENTITY_GROUPS.get(name, (name,)):
            if entity not in out:
                out.append(entity)
    return tuple(out)


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings in text order: higher priority first, then the longer span."""
    if len(findings) < 2:
        return findings
    ranked = sorted(findings, key=lambda f: (-_PRIORITY.get(f.kind, 0), f.start - f.end, f.start))
    starts: list[int] = []  # kept spans, sorted by start; they never overlap each other
    kept: list[Finding] = []
    for f in ranked:
        i = bisect.bisect_right(starts, f.start)
        if i and kept[i - 1].end > f.start:
            continue  # the span before it reaches into it
        if i < len(kept) and kept[i].start < f.end:
            continue  # it reaches into the span after it
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


class PiiScanner(LocalScanner):
    """Finds the configured entities; names, places and organisations need the NER extra."""

    kind = "pii"

    def __init__(
        self,
        entities: Iterable[str] = PATTERN_ENTITIES,
        *,
        phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR"),
        min_score: float = 0.0,
    ) -> None:
        self.entities = frozenset(expand_entities(entities))
        detectors: list[patterns.Detector] = []
        if "EMAIL" in self.entities:
            detectors.append(patterns.find_emails)
        if "CREDIT_CARD" in self.entities:
            detectors.append(patterns.find_cards)
        if "IBAN" in self.entities:
            detectors.append(patterns.find_ibans)
        for kind, detector in NATIONAL_DETECTORS.items():
            if kind in self.entities and detector not in detectors:
                detectors.append(detector)
        if "IP_ADDRESS" in self.entities:
            detectors.append(patterns.find_ips)
        # Phones last: parsing is the costliest check, and spans already claimed are skipped.
        self._phones = patterns.phone_finder(phone_regions) if "PHONE" in self.entities else None
        if "DATE_OF_BIRTH" in self.entities:
            detectors.append(patterns.find_dates_of_birth)
        if "SECRET" in self.entities:
            detectors.append(find_secrets)
        self._detectors = detectors
        self._ner = None
        ner_entities = self.entities & set(NER_ENTITIES)
        if ner_entities:
            from podium.guardrails.pii.ner import NerRecognizer

            self._ner = NerRecognizer(tuple(sorted(ner_entities)), min_score=min_score)
            self.inline_chars = 0  # a model costs milliseconds: always off the event loop

    def find(self, text: str) -> list[Finding]:
        """Every configured entity in ``text``, overlaps resolved, in text order."""
        found: list[Finding] = []
        prepared = patterns.Prepared(text)
        for detect in self._detectors:
            found.extend(f for f in detect(prepared) if f.kind in self.entities)
        if self._phones is not None:
            prepared.take([(f.start, f.end) for f in found])
            found.extend(self._phones(prepared))
        if self._ner is not None:
            found.extend(self._ner.find(text))
        return resolve_overlaps(found)

    def check(self, text: str, ctx: ScanContext) -> Scan:
        findings = self.find(text)
        return Scan(findings=tuple(findings), score=max((f.score for f in findings), default=0.0))
