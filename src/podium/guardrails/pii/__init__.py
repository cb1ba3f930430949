"""Personal data and secrets: pattern detectors with check digits, and names through the NER extra."""

from podium.guardrails.pii.scanner import (
    ENTITIES,
    ENTITY_GROUPS,
    NER_ENTITIES,
    PATTERN_ENTITIES,
    PiiScanner,
    expand_entities,
)

__all__ = ["ENTITIES", "ENTITY_GROUPS", "NER_ENTITIES", "PATTERN_ENTITIES", "PiiScanner", "expand_entities"]
