"""Text → features for the injection classifier: the same function at training and at run time.

Lower-cased words and word pairs after Unicode compatibility folding (full-width letters, ligatures),
with zero-width characters removed so that ``ig\u200bnore`` reads as ``ignore``. Binary presence:
a word said ten times counts once, so long texts do not drift towards either class.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

__all__ = ["WINDOW_WORDS", "features", "normalize", "window_features", "windows"]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

WINDOW_WORDS = 64  # the classifier scores windows of this many words (training texts are this short)
_STRIDE = WINDOW_WORDS // 2


def normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    return text.lower()


def features(words: list[str]) -> set[str]:
    """Unigrams and bigrams (joined by a space) of already normalized words."""
    out = set(words)
    out.update(f"{a} {b}" for a, b in pairwise(words))
    return out


def windows(text: str) -> list[list[str]]:
    """The text's words in overlapping windows of :data:`WINDOW_WORDS` (one window when shorter)."""
    words = _WORD.findall(normalize(text))
    if len(words) <= WINDOW_WORDS:
        return [words]
    return [words[i : i + WINDOW_WORDS] for i in range(0, len(words) - _STRIDE, _STRIDE)]


def window_features(text: str) -> list[set[str]]:
    """:func:`features` of each of :func:`windows`, with each word pair built once for all windows."""
    words = _WORD.findall(normalize(text))
    pairs = [f"{a} {b}" for a, b in pairwise(words)]
    if len(words) <= WINDOW_WORDS:
        return [{*words, *pairs}]
    out = []
    for i in range(0, len(words) - _STRIDE, _STRIDE):
        window = set(words[i : i + WINDOW_WORDS])
        window.update(pairs[i : i + WINDOW_WORDS - 1])
        out.append(window)
    return out
