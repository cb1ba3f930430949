"""Convert alt-profanity-check's model into ``src/podium/data/toxicity_model.json``, offline.

    pip install alt-profanity-check==1.9.1 scikit-learn   # in a scratch environment, not Podium's
    python -m benchmarks.convert_toxicity

alt-profanity-check (MIT) ships a scikit-learn model for offensive and toxic language: a TF-IDF
vectorizer (word unigrams, English stop words removed, l2 norm) and a linear SVM calibrated with
Platt's sigmoid over 5 folds. Those are a few arithmetic steps, so Podium recomputes them in plain
Python from this file (:mod:`podium.guardrails.moderation`) instead of depending on scikit-learn,
NumPy and SciPy at run time. The script checks that the two agree on a sample before writing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src" / "podium" / "data" / "toxicity_model.json"

_SAMPLE = [
    "have a nice day",
    "you are a complete idiot and everyone hates you",
    "this is shit",
    "thanks for the quick reply, the fix works",
    "shut up you stupid moron",
    "The quarterly report shows revenue grew by 12 percent.",
    "I will kill you",
    "what a damn good movie",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--digits", type=int, default=5, help="significant digits kept per weight")
    args = parser.parse_args()

    import importlib.metadata

    from profanity_check import profanity_check as pc  # type: ignore[import-not-found]

    vectorizer: Any = pc.vectorizer
    model: Any = pc.model
    folds = model.calibrated_classifiers_
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    idf = vectorizer.idf_

    def r(x: float) -> float:
        return float(f"{x:.{args.digits}g}")

    terms = {
        term: [r(idf[i]), *(r(fold.estimator.coef_[0][i]) for fold in folds)]
        for term, i in sorted(vocabulary.items())
    }
    data = {
        "format": 1,
        "kind": "tfidf_linear_svm_sigmoid_ensemble",
        "source": f"alt-profanity-check {importlib.metadata.version('alt-profanity-check')} (MIT)",
        "token_pattern": vectorizer.token_pattern,
        "stop_words": sorted(vectorizer.get_stop_words()),
        "intercepts": [r(fold.estimator.intercept_[0]) for fold in folds],
        "calibration": [[r(fold.calibrators[0].a_), r(fold.calibrators[0].b_)] for fold in folds],
        "terms": terms,
    }
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")

    from podium.guardrails.moderation import load_toxicity_model

    load_toxicity_model.cache_clear()
    ours = load_toxicity_model()
    theirs = pc.predict_prob(_SAMPLE)
    for text, expected in zip(_SAMPLE, theirs, strict=True):
        got = ours.probability(text)
        print(f"{expected:.4f} {got:.4f}  {text}")
        if abs(got - expected) > 1e-3:
            raise SystemExit(f"the converted model disagrees on {text!r}: {got} != {expected}")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {len(terms)} terms)")


if __name__ == "__main__":
    main()
