"""Fitting the classifier on labelled examples: what ``podium route calibrate`` runs, offline.

An example is one JSON object per line: ``{"text": "...", "task": "code", "complexity": 0.7}``;
``complexity`` (0..1) is optional, and without any the shipped complexity weights are kept. Training
is plain-Python stochastic gradient descent on the softmax loss with L2 regularisation, shuffled with
a fixed seed, so the same examples always give the same model.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium.config.routing import TASKS, TaskType
from podium.routing.classifier import (
    BUCKETS,
    COMPLEXITY_FEATURES,
    DEFAULT_COMPLEXITY,
    Classifier,
    complexity_features,
    features,
)

__all__ = ["Evaluation", "Example", "evaluate", "fit", "read_examples", "split"]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    task: TaskType
    complexity: float | None = None


def read_examples(path: str | Path) -> list[Example]:
    """Examples from a JSON-lines file; ``ValueError`` naming the line of the first bad one."""
    out: list[Example] = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if (
                not isinstance(data, dict)
                or not isinstance(data.get("text"), str)
                or not data["text"].strip()
            ):
                raise ValueError(f'{path}:{n}: expected {{"text": "...", "task": "..."}}')
            task = data.get("task")
            if task not in TASKS:
                raise ValueError(f"{path}:{n}: task {task!r} is not one of: {', '.join(TASKS)}")
            complexity = data.get("complexity")
            if complexity is not None and (
                not isinstance(complexity, int | float) or not 0 <= complexity <= 1
            ):
                raise ValueError(f"{path}:{n}: complexity must be a number from 0 to 1, got {complexity!r}")
            out.append(Example(text=data["text"], task=task, complexity=complexity))
    if not out:
        raise ValueError(f"{path}: no examples")
    return out


def split(
    examples: Sequence[Example], holdout: float, *, seed: int = 7
) -> tuple[list[Example], list[Example]]:
    """(train, held out): ``holdout`` of each task's examples, chosen with a fixed seed."""
    rng = random.Random(seed)
    train: list[Example] = []
    test: list[Example] = []
    for task in TASKS:
        group = [e for e in examples if e.task == task]
        rng.shuffle(group)
        k = round(len(group) * holdout)
        test += group[:k]
        train += group[k:]
    return train, test


def _hashed(text: str) -> list[int]:
    return sorted({zlib.crc32(f.encode()) & (BUCKETS - 1) for f in features(text)})


def fit(
    examples: Sequence[Example],
    *,
    epochs: int = 30,
    learning_rate: float = 0.5,
    l2: float = 1e-4,
    seed: int = 13,
    meta: dict[str, Any] | None = None,
) -> Classifier:
    """A classifier for the tasks present in ``examples`` (in the canonical task order)."""
    tasks = tuple(t for t in TASKS if any(e.task == t for e in examples))
    if len(tasks) < 2:
        raise ValueError("the examples must cover at least two task types")
    index = {t: i for i, t in enumerate(tasks)}
    k = len(tasks)
    data = [(_hashed(e.text), index[e.task]) for e in examples]
    weights: dict[int, list[float]] = {}
    rng = random.Random(seed)
    order = list(range(len(data)))
    for epoch in range(epochs):
        rng.shuffle(order)
        rate = learning_rate / (1 + epoch * 0.2)
        for i in order:
            buckets, label = data[i]
            rows = [weights.setdefault(b, [0.0] * k) for b in buckets]
            scores = [sum(r[c] for r in rows) for c in range(k)]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            grads = [e / total - (1.0 if c == label else 0.0) for c, e in enumerate(exps)]
            shrink = 1.0 - rate * l2
            for r in rows:
                for c in range(k):
                    r[c] = r[c] * shrink - rate * grads[c]
    cw, cb = _fit_complexity(examples)
    return Classifier(
        tasks=tasks,
        weights={b: tuple(r) for b, r in weights.items() if any(abs(w) > 1e-4 for w in r)},
        complexity_weights=cw,
        complexity_bias=cb,
        meta=meta or {},
    )


def _fit_complexity(examples: Iterable[Example]) -> tuple[tuple[float, ...], float]:
    """Ridge least squares on the logit of the labels; hand-set weights without enough labels."""
    rows = [(complexity_features(e.text), e.complexity) for e in examples if e.complexity is not None]
    if len(rows) < 2 * len(COMPLEXITY_FEATURES):
        return DEFAULT_COMPLEXITY
    n = len(COMPLEXITY_FEATURES) + 1
    xtx = [[0.0] * n for _ in range(n)]
    xty = [0.0] * n
    for x, y in rows:
        assert y is not None
        v = (*x, 1.0)
        target = math.log(min(0.97, max(0.03, y)) / (1 - min(0.97, max(0.03, y))))
        for i in range(n):
            xty[i] += v[i] * target
            for j in range(n):
                xtx[i][j] += v[i] * v[j]
    for i in range(n - 1):
        xtx[i][i] += 0.1  # ridge: a fact no example varies gets a small weight, not an arbitrary one
    solution = _solve(xtx, xty)
    return tuple(solution[:-1]), solution[-1]


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the system is small and positive definite)."""
    n = len(b)
    m = [[*row[:], b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            continue
        for r in range(n):
            if r != col:
                factor = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= factor * m[col][c]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-12 else 0.0 for i in range(n)]


@dataclass(frozen=True, slots=True)
class Evaluation:
    accuracy: float
    count: int
    per_task: dict[str, tuple[int, int]]  # task -> (correct, total)
    complexity_mae: float | None

    def lines(self) -> list[str]:
        out = [f"accuracy {self.accuracy:.1%} on {self.count} held-out examples"]
        for task, (ok, total) in self.per_task.items():
            out.append(f"  {task:<17} {ok}/{total}")
        if self.complexity_mae is not None:
            out.append(f"complexity mean absolute error {self.complexity_mae:.3f}")
        return out


def evaluate(model: Classifier, examples: Sequence[Example]) -> Evaluation:
    correct = 0
    per: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    errors: list[float] = []
    for e in examples:
        result = model.classify(e.text)
        per[e.task] += 1
        if result.task == e.task:
            correct += 1
            hits[e.task] += 1
        if e.complexity is not None:
            errors.append(abs(result.complexity - e.complexity))
    return Evaluation(
        accuracy=correct / len(examples) if examples else 0.0,
        count=len(examples),
        per_task={t: (hits[t], per[t]) for t in TASKS if per[t]},
        complexity_mae=sum(errors) / len(errors) if errors else None,
    )
