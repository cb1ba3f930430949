"""``podium route``: fit the task classifier on your own examples, and try it on a text.

::

    podium route calibrate examples.jsonl --out calibration.json   # then routing.classifier: calibration.json
    podium route classify "Write a SQL query that ..." [--classifier calibration.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    cal = actions.add_parser(
        "calibrate",
        help="fit the task classifier and complexity score on labelled examples",
        description=(
            'Fit the classifier on a JSON-lines file of {"text": ..., "task": ..., "complexity": 0..1} '
            "(complexity optional), report its accuracy on a held-out share, and write a calibration "
            "file that `routing.classifier` can point at. The written model is fitted on every example."
        ),
    )
    cal.add_argument("examples", help="the JSON-lines file of labelled examples")
    cal.add_argument("--out", "-o", required=True, help="where to write the calibration file (JSON)")
    cal.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        help="share of each task's examples held out to measure accuracy",
    )
    cal.add_argument("--epochs", type=int, default=30, help="passes over the examples (default 30)")
    cal.set_defaults(func=calibrate)
    cls = actions.add_parser("classify", help="print the task type and complexity of a text")
    cls.add_argument("text", help="the text (a user message)")
    cls.add_argument("--classifier", help="a calibration file (default: the shipped model)")
    cls.set_defaults(func=classify)


def calibrate(args: argparse.Namespace) -> int:
    from podium.routing.training import evaluate, fit, read_examples, split

    if not 0 <= args.holdout < 1:
        print("podium route calibrate: --holdout must be at least 0 and below 1", file=sys.stderr)
        return 2
    try:
        examples = read_examples(args.examples)
        meta: dict[str, object] = {"examples": len(examples)}
        if args.holdout > 0:
            train, test = split(examples, args.holdout)
            if not test:
                raise ValueError("too few examples to hold any out: lower --holdout or add examples")
            evaluation = evaluate(fit(train, epochs=args.epochs), test)
            for line in evaluation.lines():
                print(line)
            meta["holdout_accuracy"] = round(evaluation.accuracy, 4)
            meta["holdout_examples"] = evaluation.count
        model = fit(examples, epochs=args.epochs, meta=meta)
    except (OSError, ValueError) as exc:
        print(f"podium route calibrate: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    try:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(model.to_json(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(out)  # never a half-written calibration file
    except OSError as exc:
        print(f"podium route calibrate: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}: {len(model.tasks)} task types, {len(examples)} examples")
    print(f"use it with:\n  routing:\n    classifier: {out}")
    return 0


def classify(args: argparse.Namespace) -> int:
    from podium.routing.classifier import default_classifier, load_classifier

    try:
        model = load_classifier(args.classifier) if args.classifier else default_classifier()
    except ValueError as exc:
        print(f"podium route classify: {exc}", file=sys.stderr)
        return 1
    result = model.classify(args.text)
    print(
        json.dumps(
            {
                "task": result.task,
                "confidence": round(result.confidence, 4),
                "complexity": round(result.complexity, 4),
            }
        )
    )
    return 0
