"""Feature-hashed embeddings: deterministic, normalised, and similar for texts that share words."""

from __future__ import annotations

import math

from podium.simulator import embed_text


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_same_text_same_vector() -> None:
    """The same text always gets exactly the same vector."""
    assert embed_text("The quick brown fox") == embed_text("The quick brown fox")


def test_known_vector_is_stable_across_processes() -> None:
    """The hash is not Python's salted hash: a known text maps to known dimensions on every run."""
    assert [round(x, 4) for x in embed_text("cat", 8)] == [0.0, 0.0, 0.0, 0.0, 0.0, -0.2425, 0.9701, 0.0]


def test_case_does_not_matter() -> None:
    """Tokens are lower-cased, so case changes nothing."""
    assert embed_text("Reset PASSWORD") == embed_text("reset password")


def test_vectors_are_unit_length() -> None:
    """Vectors are L2-normalised, including the empty text's."""
    for text in ("hello", "a much longer sentence about many different things", ""):
        assert math.isclose(math.sqrt(sum(x * x for x in embed_text(text))), 1.0)


def test_dims() -> None:
    """The vector has the requested number of dimensions."""
    assert len(embed_text("x", 1536)) == 1536


def test_similar_texts_are_more_similar() -> None:
    """Texts that share words are closer than unrelated texts."""
    query = embed_text("How do I reset my password?")
    near = embed_text("how can I reset the password")
    far = embed_text("Quarterly revenue grew in the European market")
    assert cosine(query, near) > 0.5
    assert cosine(query, near) > cosine(query, far) + 0.3
