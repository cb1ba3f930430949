"""The task-type classifier and the complexity score: local, offline, well under a millisecond.

Task type: a softmax (multinomial logistic) model over hashed word unigrams, word bigrams and
punctuation marks of the last user message. Hashing (CRC-32, stable across processes) keeps the
model a sparse table of the buckets that training saw; scoring is one dictionary lookup per feature
and a column sum, so a request costs tens of microseconds. Text past :data:`MAX_CHARS` is not read:
the start and the end of a message say what it asks for.

Complexity: a score in [0, 1] from a few structural facts (length, questions, numbered parts,
reasoning cues, constraints, code) combined linearly and squashed by a logistic function; its
weights are fitted by least squares when the examples carry a ``complexity`` label.

The shipped model (``podium/data/routing_classifier.json``) is trained on the shipped examples
(``podium/data/routing_examples.jsonl``); ``podium route calibrate`` fits one on the operator's own
examples (:mod:`podium.routing.training`), which ``routing.classifier`` then points at.
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from podium.config.routing import TASKS, TaskType

__all__ = [
    "BUCKETS",
    "COMPLEXITY_FEATURES",
    "DEFAULT_COMPLEXITY",
    "MAX_CHARS",
    "Classification",
    "Classifier",
    "complexity_features",
    "default_classifier",
    "features",
    "load_classifier",
]

MAX_CHARS = 800  # read at most this much: the first 600 and the last 200 characters
FORMAT = "podium-route-classifier"
BUCKETS = 1 << 20

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_REASONING = frozenset(
    [
        "why",
        "prove",
        "proof",
        "derive",
        "explain",
        "analyze",
        "analyse",
        "analysis",
        "compare",
        "tradeoff",
        "tradeoffs",
        "trade-off",
        "weigh",
        "evaluate",
        "justify",
        "design",
        "optimize",
        "optimise",
        "architecture",
        "implication",
        "implications",
        "reason",
        "reasoning",
        "argue",
        "strategy",
        "assess",
        "critique",
        "theorem",
        "complexity",
        "pros",
        "cons",
        "plan",
        "consider",
        "decide",
        "diagnose",
        "prioritize",
        "prioritise",
        "risk",
        "risks",
    ]
)
_CONSTRAINTS = frozenset(
    [
        "must",
        "should",
        "ensure",
        "without",
        "least",
        "most",
        "exactly",
        "only",
        "constraint",
        "constraints",
        "requirement",
        "requirements",
    ]
)
_CODE = frozenset(
    [
        "`",
        "{",
        "}",
        ";",
        "=",
        "<",
        ">",
        "def",
        "class",
        "function",
        "return",
        "import",
        "select",
        "const",
        "var",
        "public",
        "void",
    ]
)
_PARTS = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•])\s")

COMPLEXITY_FEATURES = ("length", "questions", "parts", "reasoning", "constraints", "code", "sentences")
# Hand-set weights, used when examples carry too few complexity labels to fit them.
DEFAULT_COMPLEXITY: tuple[tuple[float, ...], float] = ((3.0, 0.6, 1.2, 2.0, 1.0, 0.8, 0.6), -3.2)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:600] + " " + text[-200:]


def _tokens(text: str) -> list[str]:
    return _WORDS.findall(_clip(text).lower())


def features(text: str, tokens: list[str] | None = None) -> list[str]:
    """The hashed model's features of ``text``: lower-cased words, word pairs, word stems, punctuation."""
    if tokens is None:
        tokens = _tokens(text)
    out = ["w:" + t for t in tokens]
    out += [f"b:{a} {b}" for a, b in itertools.pairwise(tokens)]
    out += ["p:" + t[:5] for t in tokens if len(t) > 5]  # a cheap stem: summarise/summarize/summary
    out.append("bias")
    return out


def complexity_features(text: str, tokens: list[str] | None = None) -> tuple[float, ...]:
    """The facts the complexity score weighs, each scaled to about 0..1, in :data:`COMPLEXITY_FEATURES` order."""
    if tokens is None:
        tokens = _tokens(text)
    clipped = _clip(text)
    words = len(text) / 5.0  # a cheap word count: no split of a long text
    reasoning = constraints = code = 0
    for t in tokens:
        if t in _REASONING:
            reasoning += 1
        elif t in _CONSTRAINTS:
            constraints += 1
        elif t in _CODE:
            code += 1
    return (
        min(1.0, math.log1p(words) / math.log1p(1500)),
        min(1.0, clipped.count("?") / 3.0),
        min(1.0, len(_PARTS.findall(clipped)) / 4.0),
        min(1.0, reasoning / 3.0),
        min(1.0, constraints / 3.0),
        min(1.0, code / 8.0),
        min(1.0, (clipped.count(". ") + clipped.count("\n")) / 10.0),
    )


@dataclass(frozen=True, slots=True)
class Classification:
    task: TaskType
    confidence: float  # the softmax probability of ``task``
    complexity: float  # 0 (trivial) .. 1 (hard)


class Classifier:
    """A fitted model: hashed feature weights per task, and the complexity score's weights."""

    def __init__(
        self,
        *,
        tasks: tuple[TaskType, ...],
        weights: dict[int, tuple[float, ...]],
        complexity_weights: tuple[float, ...],
        complexity_bias: float,
        source: str = "<memory>",
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.tasks = tasks
        self.weights = weights
        self.complexity_weights = complexity_weights
        self.complexity_bias = complexity_bias
        self.source = source
        self.meta = meta or {}
        self._zero = (0.0,) * len(tasks)

    def scores(self, text: str, tokens: list[str] | None = None) -> list[float]:
        """Unnormalised log-odds per task, in :attr:`tasks` order."""
        get = self.weights.get
        zero = self._zero
        mask = BUCKETS - 1
        rows = [get(zlib.crc32(f.encode()) & mask, zero) for f in features(text, tokens)]
        return [sum(column) for column in zip(*rows, strict=True)]

    def complexity(self, text: str, tokens: list[str] | None = None) -> float:
        facts = complexity_features(text, tokens)
        z = self.complexity_bias + sum(w * x for w, x in zip(self.complexity_weights, facts, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def classify(self, text: str) -> Classification:
        tokens = _tokens(text)
        scores = self.scores(text, tokens)
        best = max(range(len(scores)), key=scores.__getitem__)
        top = scores[best]
        total = sum(math.exp(s - top) for s in scores)
        return Classification(
            task=self.tasks[best], confidence=1.0 / total, complexity=self.complexity(text, tokens)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "tasks": list(self.tasks),
            "buckets": BUCKETS,
            "weights": [[b, *(round(w, 5) for w in row)] for b, row in sorted(self.weights.items())],
            "complexity": {
                "weights": [round(w, 5) for w in self.complexity_weights],
                "bias": round(self.complexity_bias, 5),
            },
            **({"meta": self.meta} if self.meta else {}),
        }


def _from_json(data: Any, source: str) -> Classifier:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{source}: not a classifier calibration file (written by `podium route calibrate`)")
    try:
        tasks = tuple(data["tasks"])
        unknown = [t for t in tasks if t not in TASKS]
        if unknown or not tasks:
            raise ValueError(f"{source}: unknown task types {unknown}")
        if data["buckets"] != BUCKETS:
            raise ValueError(f"{source}: written for {data['buckets']} buckets, this Podium uses {BUCKETS}")
        weights: dict[int, tuple[float, ...]] = {}
        for row in data["weights"]:
            if len(row) != len(tasks) + 1:
                raise ValueError(f"{source}: a weight row has {len(row) - 1} values for {len(tasks)} tasks")
            weights[int(row[0])] = tuple(float(w) for w in row[1:])
        cw = tuple(float(w) for w in data["complexity"]["weights"])
        if len(cw) != len(COMPLEXITY_FEATURES):
            raise ValueError(f"{source}: complexity needs {len(COMPLEXITY_FEATURES)} weights, got {len(cw)}")
        bias = float(data["complexity"]["bias"])
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{source}: malformed calibration file ({exc.__class__.__name__}: {exc})") from None
    return Classifier(
        tasks=tasks,
        weights=weights,
        complexity_weights=cw,
        complexity_bias=bias,
        source=source,
        meta=data.get("meta") or {},
    )


@lru_cache(maxsize=8)
def load_classifier(path: str) -> Classifier:
    """The classifier in a calibration file; ``ValueError`` saying what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read classifier file {path!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    return _from_json(data, path)


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The shipped model, trained on the shipped examples."""
    ref = importlib.resources.files("podium") / "data" / "routing_classifier.json"
    return _from_json(json.loads(ref.read_text(encoding="utf-8")), "podium/data/routing_classifier.json")
