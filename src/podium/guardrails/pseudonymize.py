"""Placeholders for personal data: typed and final (``<EMAIL>``), or numbered and reversible (``<EMAIL_1>``).

A :class:`Pseudonymizer` lives for one request: it gives each distinct value its own placeholder
(the same email twice is ``<EMAIL_1>`` twice) and keeps the mapping in memory only; nothing stores it.
A :class:`Restorer` puts the originals back into the model's answer as it streams. A placeholder may
arrive split across chunks (``<EMA`` then ``IL_1>``), so the restorer holds back only the shortest tail
that could still become one — a ``<`` and what follows it — and passes everything else through at once.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping

from podium.guardrails.scanner import Finding

__all__ = ["Pseudonymizer", "Restorer", "apply"]


class Pseudonymizer:
    """Numbered placeholders for one request, avoiding any that already occur in its own text."""

    def __init__(self, existing: str = "") -> None:
        self.mapping: dict[str, str] = {}  # placeholder -> original
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._existing = existing

    def placeholder(self, kind: str, value: str) -> str:
        known = self._by_value.get((kind, value))
        if known is not None:
            return known
        n = self._counts.get(kind, 0)
        while True:
            n += 1
            candidate = f"<{kind}_{n}>"
            if candidate not in self._existing:  # the caller's own text must never be "restored"
                break
        self._counts[kind] = n
        self._by_value[(kind, value)] = candidate
        self.mapping[candidate] = value
        return candidate


def apply(
    text: str,
    findings: Iterable[Finding],
    pseudonyms: Pseudonymizer | None,
    *,
    reversible: Container[int] | None = None,
) -> str:
    """``text`` with each finding's span replaced: numbered by ``pseudonyms``, else ``<KIND>``.

    With ``reversible``, only the findings whose ``id()`` it holds are numbered. ``findings`` must not
    overlap; they are applied in text order.
    """
    parts: list[str] = []
    last = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < last:
            continue
        parts.append(text[last : f.start])
        if pseudonyms is not None and (reversible is None or id(f) in reversible):
            parts.append(pseudonyms.placeholder(f.kind, text[f.start : f.end]))
        else:
            parts.append(f"<{f.kind}>")
        last = f.end
    parts.append(text[last:])
    return "".join(parts)


class Restorer:
    """Streams text through, replacing complete placeholders with their originals."""

    __slots__ = ("_longest", "_mapping", "_pattern", "_prefixes", "_tail")

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = dict(mapping)
        keys = sorted(self._mapping, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        # Every proper prefix of a placeholder: what a chunk may end with and still become one.
        self._prefixes = {k[:i] for k in keys for i in range(1, len(k))}
        self._longest = max(map(len, keys), default=0)
        self._tail = ""

    def _replace(self, text: str) -> str:
        if self._pattern is None or "<" not in text:
            return text
        return self._pattern.sub(lambda m: self._mapping[m.group()], text)

    def feed(self, chunk: str) -> str:
        """The text that can be released now; a possible placeholder prefix at the end is held back."""
        if not self._tail and "<" not in chunk:
            return chunk  # the common case: nothing to restore, nothing held
        text = self._tail + chunk
        cut = text.rfind("<", max(0, len(text) - self._longest + 1))
        if cut >= 0 and text[cut:] in self._prefixes:
            self._tail = text[cut:]
            text = text[:cut]
        else:
            self._tail = ""
        return self._replace(text)

    def flush(self) -> str:
        """What is still held back (the stream ended inside something that was not a placeholder)."""
        tail, self._tail = self._tail, ""
        return self._replace(tail)

    def restore(self, text: str) -> str:
        """A whole text at once."""
        return self._replace(text)
