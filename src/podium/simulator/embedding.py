"""Deterministic embeddings by feature hashing: similar texts get similar vectors, with no model.

Each lower-cased word and each character trigram of a word (with its boundaries, `` wo``, ``ord``,
``rd ``) is hashed to one dimension and a sign; the sum is L2-normalised. Texts that share words
share features, so their cosine similarity is higher than that of unrelated texts, which is what the
semantic cache and retrieval need from a stand-in. The hash is CRC-32, stable across processes and
machines: the same text always gets the same vector.
"""

from __future__ import annotations

import math
import re
import zlib

__all__ = ["embed_text", "embed_token_ids"]

_WORD = re.compile(r"\w+")
_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.5


def _add(vector: list[float], feature: bytes, weight: float) -> None:
    h = zlib.crc32(feature)
    dims = len(vector)
    # the low bit chooses the sign, so unrelated features cancel out on average instead of piling up
    vector[(h >> 1) % dims] += weight if h & 1 else -weight


def _normalised(vector: list[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        # no features (empty text): still a unit vector, so cosine similarity stays defined
        vector[0] = 1.0
        return tuple(vector)
    return tuple(x / norm for x in vector)


def embed_text(text: str, dims: int = 256) -> tuple[float, ...]:
    """A unit vector of ``dims`` floats for ``text``; the same text always gives the same vector."""
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        encoded = word.encode()
        _add(vector, b"w:" + encoded, _WORD_WEIGHT)
        padded = f" {word} ".encode()
        for i in range(len(padded) - 2):
            _add(vector, b"t:" + padded[i : i + 3], _TRIGRAM_WEIGHT)
    return _normalised(vector)


def embed_token_ids(ids: tuple[int, ...], dims: int = 256) -> tuple[float, ...]:
    """A unit vector for an input given as token ids: each id is a feature."""
    vector = [0.0] * dims
    for token in ids:
        _add(vector, b"i:%d" % token, _WORD_WEIGHT)
    return _normalised(vector)
