"""Names, places and organisations through the optional NER extra (Presidio + a spaCy model from PyPI)."""

from __future__ import annotations

import pytest

from podium.guardrails.pii.ner import ner_available

MISSING = ner_available()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"NER extra not installed: {MISSING}")


def test_names_places_and_organisations_are_found() -> None:
    """PERSON, LOCATION and ORGANIZATION come from the NER model, next to the pattern entities."""
    from podium.guardrails.pii import PiiScanner

    scanner = PiiScanner(("PERSON", "LOCATION", "ORGANIZATION", "EMAIL"), min_score=0.5)
    text = "Jane Doe of Acme Corporation in Berlin wrote from jane@example.com."
    found = {(f.kind, text[f.start : f.end]) for f in scanner.find(text)}
    assert {("PERSON", "Jane Doe"), ("LOCATION", "Berlin"), ("EMAIL", "jane@example.com")} <= found
    assert scanner.inline_chars == 0  # a model call never runs on the event loop


def test_pseudonymized_names_round_trip() -> None:
    """A name pseudonymized for the model comes back in the answer."""
    from podium.guardrails.pii import PiiScanner
    from podium.guardrails.pseudonymize import Pseudonymizer, Restorer, apply

    text = "Please write a note to John Smith about Paris."
    pseudonyms = Pseudonymizer(text)
    masked = apply(text, PiiScanner(("PERSON", "LOCATION")).find(text), pseudonyms)
    assert "John Smith" not in masked and "<PERSON_1>" in masked
    assert Restorer(pseudonyms.mapping).restore(masked) == text
