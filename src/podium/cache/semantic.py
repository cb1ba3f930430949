"""The semantic cache: an index of embedded questions pointing at exact cache entries.

The embedding model runs in process and downloads nothing: the ``wordllama`` package ships the
weights of its 256-dimension ``l2_supercat`` model (a static token-embedding table) and its
tokenizer inside the wheel. Only those files are read — through ``tokenizers``, ``safetensors``
and ``numpy``, not wordllama's own loader, which looks for the tokenizer under a folder name the
wheel does not use and would then try to fetch it from the network. A question embeds in about
70 µs: lower-cased, tokenized, the token vectors averaged and normalised.

Each replica keeps its own index in memory. Entries are shared through a log in the shared state
(``Append``): every replica adds what it stores locally at once, and reads the others' entries from
the log every half second. A hit points at an exact entry (its key); reading that entry is the one
extra shared-state call a semantic hit costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from podium.config.caching import SEMANTIC_PACKAGE
from podium.state.base import Append, SharedState, StateUnavailable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Embedder", "SemanticIndex", "load_embedder"]

log = logging.getLogger("podium.cache")

LOG_NAME = "cache:semantic"
SYNC_SECONDS = 0.5


class Embedder:
    """Text → a unit vector (float32, 256 dimensions), from the model files the wheel ships."""

    def __init__(self, table: Any, tokenizer: Any) -> None:
        self._table = table
        self._tokenizer = tokenizer

    def embed(self, text: str) -> np.ndarray[Any, Any]:
        import numpy as np

        ids = self._tokenizer.encode(" ".join(text.lower().split()), add_special_tokens=False).ids
        if not ids:
            return np.zeros(self._table.shape[1], dtype=np.float32)
        vector = self._table[ids].mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector  # type: ignore[no-any-return]


def load_embedder() -> Embedder:
    """Read the model from the installed ``wordllama`` package (about 0.4 s); ImportError without it."""
    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec(SEMANTIC_PACKAGE)  # locates the files without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the semantic cache needs the 'semantic' extra: pip install 'podium-gateway[semantic]'"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    table = load_file(str(root / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"]
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return Embedder(np.ascontiguousarray(table, dtype=np.float32), tokenizer)


class _Shared(msgspec.Struct, frozen=True, array_like=True):
    """One index entry as it travels through the log."""

    scope: str
    key: str
    vector: bytes  # float32, little-endian
    expires_at: float


@dataclass(slots=True)
class _Bucket:
    keys: list[str] = field(default_factory=list)
    vectors: list[Any] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)
    matrix: Any = None  # the vectors stacked, rebuilt after a change


class SemanticIndex:
    def __init__(self, state: SharedState, embedder: Embedder, *, max_entries: int) -> None:
        self._state = state
        self.embedder = embedder
        self._max = max_entries
        self._buckets: dict[str, _Bucket] = {}
        self._order: deque[tuple[str, str]] = deque()  # (scope, key), oldest first
        self._position = ""
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(_Shared)

    def search(self, scope: str, vector: np.ndarray[Any, Any], threshold: float) -> str | None:
        """The exact key of the most similar live entry in ``scope``, if it is similar enough."""
        import numpy as np

        bucket = self._buckets.get(scope)
        if bucket is None or not bucket.keys:
            return None
        if bucket.matrix is None:
            bucket.matrix = np.stack(bucket.vectors)
        scores = bucket.matrix @ vector
        best = int(np.argmax(scores))
        if float(scores[best]) < threshold or bucket.expires[best] <= time.time():
            return None
        return bucket.keys[best]

    def add(
        self, scope: str, key: str, vector: np.ndarray[Any, Any], expires_at: float, *, share: bool
    ) -> None:
        bucket = self._buckets.setdefault(scope, _Bucket())
        if key in bucket.keys:
            i = bucket.keys.index(key)
            bucket.expires[i] = max(bucket.expires[i], expires_at)
        else:
            bucket.keys.append(key)
            bucket.vectors.append(vector)
            bucket.expires.append(expires_at)
            bucket.matrix = None
            self._order.append((scope, key))
            while len(self._order) > self._max:
                self._evict(*self._order.popleft())
        if share:
            entry = _Shared(
                scope=scope, key=key, vector=vector.astype("<f4").tobytes(), expires_at=expires_at
            )
            self._state.submit([Append(name=LOG_NAME, entry=self._encoder.encode(entry), max_len=self._max)])

    def _evict(self, scope: str, key: str) -> None:
        bucket = self._buckets.get(scope)
        if bucket is None or key not in bucket.keys:
            return
        i = bucket.keys.index(key)
        del bucket.keys[i], bucket.vectors[i], bucket.expires[i]
        bucket.matrix = None
        if not bucket.keys:
            del self._buckets[scope]

    async def sync(self) -> None:
        """Add the entries other replicas logged since the last sync."""
        import numpy as np

        entries, self._position = await self._state.read_log(LOG_NAME, self._position)
        now = time.time()
        for raw in entries:
            try:
                e = self._decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if e.expires_at > now:
                self.add(e.scope, e.key, np.frombuffer(e.vector, dtype="<f4"), e.expires_at, share=False)

    async def run(self) -> None:
        """Keep the index in sync until cancelled; an unreachable shared state is retried quietly."""
        while True:
            with contextlib.suppress(StateUnavailable):
                await self.sync()
            await asyncio.sleep(SYNC_SECONDS)
