"""Reversible placeholders: one per distinct value, restored in streams however the chunks fall."""

from __future__ import annotations

import pytest

from podium.guardrails.pii import PiiScanner
from podium.guardrails.pseudonymize import Pseudonymizer, Restorer, apply

TEXT = "Mail jane@example.com or bob@example.org, and jane@example.com again; card 4111 1111 1111 1111."


def pseudonymized(text: str = TEXT) -> tuple[str, dict[str, str]]:
    pseudonyms = Pseudonymizer(text)
    return apply(text, PiiScanner().find(text), pseudonyms), pseudonyms.mapping


def test_same_value_same_placeholder() -> None:
    """Each distinct value gets its own numbered placeholder; a repeated value reuses it."""
    masked, mapping = pseudonymized()
    assert masked == "Mail <EMAIL_1> or <EMAIL_2>, and <EMAIL_1> again; card <CREDIT_CARD_1>."
    assert mapping == {
        "<EMAIL_1>": "jane@example.com",
        "<EMAIL_2>": "bob@example.org",
        "<CREDIT_CARD_1>": "4111 1111 1111 1111",
    }


def test_redaction_is_typed_and_final() -> None:
    """Without a pseudonymizer the placeholder is the kind alone, with nothing to restore from."""
    assert apply(TEXT, PiiScanner().find(TEXT), None).count("<EMAIL>") == 3


def test_placeholders_already_in_the_text_are_skipped() -> None:
    """A caller who writes "<EMAIL_1>" themselves never gets it replaced by someone's address."""
    text = "literal <EMAIL_1> and real jane@example.com"
    masked, mapping = pseudonymized(text)
    assert masked == "literal <EMAIL_1> and real <EMAIL_2>"
    assert Restorer(mapping).restore(masked) == text


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64])
def test_stream_restores_placeholders_split_across_chunks(size: int) -> None:
    """Fed in chunks of any size, a placeholder split between chunks is restored whole."""
    masked, mapping = pseudonymized()
    restorer = Restorer(mapping)
    out = [restorer.feed(masked[i : i + size]) for i in range(0, len(masked), size)]
    out.append(restorer.flush())
    assert "".join(out) == TEXT


def test_stream_holds_back_only_a_possible_prefix() -> None:
    """Text that cannot begin a placeholder is released at once; only '<EMA' waits."""
    restorer = Restorer({"<EMAIL_1>": "jane@example.com"})
    assert restorer.feed("Hello ") == "Hello "
    assert restorer.feed("a < b and <EMA") == "a < b and "
    assert restorer.feed("IL_1> bye") == "jane@example.com bye"
    assert restorer.feed("x <EMAIL_9") == "x <EMAIL_9"  # not a prefix of any placeholder: released
    assert restorer.feed("<EMAIL_") == ""
    assert restorer.flush() == "<EMAIL_"  # the stream ended: what was held goes out as it was


def test_nothing_to_restore_is_the_identity() -> None:
    """Without '<' in a chunk, the chunk itself passes through (no copy, no buffering)."""
    restorer = Restorer({"<EMAIL_1>": "x@y.z"})
    chunk = "plain words"
    assert restorer.feed(chunk) is chunk
