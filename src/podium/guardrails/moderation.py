"""Moderation: a local toxicity model, keyword and topic deny-lists, or a provider's moderation endpoint.

The local model is alt-profanity-check's (MIT): TF-IDF over words and a calibrated linear SVM,
converted offline into ``podium/data/toxicity_model.json`` by ``python -m benchmarks.convert_toxicity``
and computed here in plain Python. It scores windows of about a sentence and keeps the worst, so one
abusive sentence in a long text is not averaged away.

Delegation (:class:`ProviderModerationScanner`) posts the text to an OpenAI-compatible ``/moderations``
endpoint of a configured provider and maps its ``flagged`` categories to findings.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aiohttp
import msgspec

from podium.guardrails.scanner import Finding, LocalScanner, Scan, ScanContext

__all__ = [
    "DenyList",
    "ModerationScanner",
    "ProviderModerationScanner",
    "ToxicityModel",
    "load_toxicity_model",
]

_WINDOW, _STRIDE = 20, 10  # words (stop words excluded): about a sentence


@dataclass(frozen=True, slots=True)
class ToxicityModel:
    token: re.Pattern[str]
    stop_words: frozenset[str]
    terms: dict[str, list[float]]  # term -> [idf, weight of fold 1, …, weight of fold k]
    intercepts: tuple[float, ...]
    calibration: tuple[tuple[float, float], ...]  # (a, b) per fold: p = 1 / (1 + exp(a·f + b))

    def _window(self, counts: Mapping[str, int]) -> float:
        folds = len(self.intercepts)
        dots = [0.0] * folds
        norm = 0.0
        for term, count in counts.items():
            entry = self.terms.get(term)
            if entry is None:
                continue
            value = count * entry[0]
            norm += value * value
            for k in range(folds):
                dots[k] += value * entry[k + 1]
        norm = math.sqrt(norm) or 1.0
        total = 0.0
        for k, (a, b) in enumerate(self.calibration):
            z = a * (dots[k] / norm + self.intercepts[k]) + b
            total += 1.0 / (1.0 + math.exp(max(-30.0, min(30.0, z))))
        return total / folds

    def probability(self, text: str) -> float:
        """The probability that ``text`` is offensive or toxic: its worst window of words."""
        tokens = [t for t in self.token.findall(text.lower()) if t not in self.stop_words]
        if len(tokens) <= _WINDOW:
            return self._window(Counter(tokens))
        return max(
            self._window(Counter(tokens[i : i + _WINDOW])) for i in range(0, len(tokens) - _STRIDE, _STRIDE)
        )


@lru_cache(maxsize=1)
def load_toxicity_model() -> ToxicityModel:
    raw = (importlib.resources.files("podium") / "data" / "toxicity_model.json").read_bytes()
    data = msgspec.json.decode(raw)
    return ToxicityModel(
        token=re.compile(data["token_pattern"]),
        stop_words=frozenset(data["stop_words"]),
        terms=data["terms"],
        intercepts=tuple(data["intercepts"]),
        calibration=tuple((a, b) for a, b in data["calibration"]),
    )


class DenyList:
    """Whole words or phrases, matched case-insensitively; each match is a finding of ``kind``."""

    def __init__(self, kind: str, phrases: Iterable[str], *, detail: str | None = None) -> None:
        self.kind = kind
        self.detail = detail
        words = sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True)
        alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE) if words else None

    def find(self, text: str) -> list[Finding]:
        if self._pattern is None:
            return []
        return [
            Finding(self.kind, m.start(), m.end(), detail=self.detail) for m in self._pattern.finditer(text)
        ]


class ModerationScanner(LocalScanner):
    """Toxicity above ``threshold`` (when the model is on) and any denied term or topic."""

    kind = "moderation"

    def __init__(
        self,
        *,
        threshold: float | None = 0.8,
        deny: Iterable[str] = (),
        topics: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.model = load_toxicity_model() if threshold is not None else None
        self.threshold = threshold if threshold is not None else 1.0
        self.lists = [DenyList("DENIED_TERM", deny)]
        self.lists += [DenyList("DENIED_TOPIC", words, detail=name) for name, words in (topics or {}).items()]

    def check(self, text: str, ctx: ScanContext) -> Scan:
        findings: list[Finding] = []
        for deny in self.lists:
            findings.extend(deny.find(text))
        score = self.model.probability(text) if self.model is not None else 0.0
        if self.model is not None and score >= self.threshold:
            findings.append(Finding("TOXICITY", 0, len(text), score=score))
        if findings:
            score = max(score, 1.0 if any(f.kind != "TOXICITY" for f in findings) else score)
        return Scan(findings=tuple(findings), score=score)


class ProviderModerationScanner:
    """Delegates to a provider's ``POST {base_url}/moderations`` (OpenAI's moderation API shape)."""

    kind = "provider_moderation"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        headers: Mapping[str, str],
        model: str,
        threshold: float | None = None,
        categories: tuple[str, ...] = (),
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/moderations"
        self._headers = {"Content-Type": "application/json", **headers}
        self.model = model
        self.threshold = threshold
        self.categories = frozenset(categories)

    async def scan(self, text: str, ctx: ScanContext) -> Scan:
        body = msgspec.json.encode({"model": self.model, "input": text})
        async with self._session.post(self._url, data=body, headers=self._headers) as resp:
            payload = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"the moderation endpoint answered HTTP {resp.status}")
        try:
            results: list[dict[str, Any]] = msgspec.json.decode(payload)["results"]
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            raise RuntimeError(
                "the moderation endpoint answered something that is not a moderation result"
            ) from exc
        flagged: set[str] = set()
        top = 0.0
        for result in results:
            scores: dict[str, float] = result.get("category_scores") or {}
            top = max([top, *scores.values()])
            if self.threshold is not None:
                flagged.update(c for c, s in scores.items() if s >= self.threshold)
            else:
                flagged.update(c for c, on in (result.get("categories") or {}).items() if on)
        if self.categories:
            flagged &= self.categories
        findings = tuple(Finding("MODERATION", 0, len(text), score=top, detail=c) for c in sorted(flagged))
        return Scan(findings=findings, score=top)
