"""What a process keeps in memory about each knowledge base it queries: its documents (for filters and
access), and its vectors (unless the database searches them itself).

A view catches up with storage by reading the changes after the rev it has seen — at once after a write
made by this process, and otherwise at most every :data:`REFRESH_SECONDS`, so a write made by another
replica or the CLI is seen within that time. Which documents a grant lets a reader use is computed
once per rev and kept (:meth:`KbView.allowed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from podium.knowledge.access import Grant
from podium.knowledge.filters import Predicate
from podium.storage.base import KnowledgeStore
from podium.storage.knowledge_records import DocumentRecord, KnowledgeChanges

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from podium.knowledge.vectors import VectorIndex

# numpy and the vector index are imported where they are used: a gateway without knowledge bases
# never loads them (about 16 MB of idle RSS).

__all__ = ["REFRESH_SECONDS", "KbView", "Views"]

log = logging.getLogger("podium.knowledge")

REFRESH_SECONDS = 0.5
_ALLOWED_CACHE = 256

Allowed = tuple["npt.NDArray[np.bool_] | None", list[str] | None]


class KbView:
    def __init__(self, kb_id: str, *, vectors: bool) -> None:
        self.kb_id = kb_id
        self.rev = -1
        self.embedding_model = ""
        self.dimension = 0
        self.docs: dict[str, DocumentRecord] = {}
        self._ords: dict[str, int] = {}
        self.vectors = vectors
        self.index: VectorIndex | None = None
        self._restricted = False
        self._allowed: dict[str, Allowed] = {}
        self.lock = asyncio.Lock()
        self.checked_at = 0.0
        self.stale = True

    def apply(self, changes: KnowledgeChanges) -> None:
        import numpy as np

        from podium.knowledge.vectors import VectorIndex

        if changes.reset or changes.dimension != self.dimension:
            self.docs, self._ords = {}, {}
            self.index = VectorIndex(changes.dimension) if self.vectors else None
        self.embedding_model, self.dimension = changes.embedding_model, changes.dimension
        touched = [*changes.removed, *(d.id for d in changes.documents)]
        if self.index is not None:
            gone = [self._ords[d] for d in touched if d in self._ords]
            self.index.remove_docs(np.asarray(gone, dtype=np.int32))
        for doc_id in changes.removed:
            self.docs.pop(doc_id, None)
        for doc in changes.documents:
            self.docs[doc.id] = doc
            self._ords.setdefault(doc.id, len(self._ords))
        if self.index is not None and changes.chunks:
            ids = np.fromiter((c[0] for c in changes.chunks), dtype=np.int64, count=len(changes.chunks))
            docs = np.fromiter(
                (self._ords[c[1]] for c in changes.chunks), dtype=np.int32, count=len(changes.chunks)
            )
            matrix = np.frombuffer(b"".join(c[2] for c in changes.chunks), dtype="<f4").reshape(len(ids), -1)
            self.index.add(ids, docs, matrix.astype(np.float32))
        self._restricted = any(d.allow for d in self.docs.values())
        self.rev = changes.rev
        self._allowed.clear()

    def adopt(self, other: KbView) -> None:
        self.rev, self.embedding_model, self.dimension = other.rev, other.embedding_model, other.dimension
        self.docs, self._ords, self.index = other.docs, other._ords, other.index
        self._restricted, self._allowed = other._restricted, other._allowed

    def allowed(self, grant: Grant, request: Predicate | None, request_key: str) -> Allowed:
        """(mask by document ordinal, document ids) a search may use; (None, None): every document."""
        if grant.predicate is None and request is None and not self._restricted:
            return None, None
        key = grant.key + "|" + request_key
        found = self._allowed.get(key)
        if found is not None:
            return found
        import numpy as np

        ids = [d.id for d in self.docs.values() if grant.allows(d) and (request is None or request(d))]
        mask = np.zeros(max(1, len(self._ords)), dtype=bool)
        mask[[self._ords[i] for i in ids]] = True
        if len(self._allowed) >= _ALLOWED_CACHE:
            self._allowed.clear()
        found = self._allowed[key] = (mask, ids)
        return found


class Views:
    """The views of one process, kept up to date from ``store``."""

    def __init__(self, store: KnowledgeStore) -> None:
        self._store = store
        self._views: dict[str, KbView] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def invalidate(self, kb_id: str) -> None:
        """This process changed ``kb_id``: the next query reads the changes first."""
        view = self._views.get(kb_id)
        if view is not None:
            view.stale = True

    def forget(self, kb_id: str) -> None:
        self._views.pop(kb_id, None)

    async def get(self, kb_id: str) -> KbView:
        view = self._views.get(kb_id)
        if view is None:
            view = self._views[kb_id] = KbView(kb_id, vectors=not self._store.native_vectors)
        now = time.monotonic()
        if view.stale or now - view.checked_at > REFRESH_SECONDS:
            async with view.lock:
                if view.stale or time.monotonic() - view.checked_at > REFRESH_SECONDS:
                    view.stale = False
                    await self._refresh(view)
                    view.checked_at = time.monotonic()
        return view

    async def _refresh(self, view: KbView) -> None:
        changes = await self._store.changes(view.kb_id, max(0, view.rev), vectors=view.vectors)
        if changes is None:
            self.forget(view.kb_id)
            return
        if changes.rev != view.rev or changes.reset:
            if changes.reset and len(changes.chunks) > 5000:
                # A first load of a large base: built off the loop, then swapped in whole, so a search
                # under way never sees it half-built.
                fresh = KbView(view.kb_id, vectors=view.vectors)
                await asyncio.to_thread(fresh.apply, changes)
                view.adopt(fresh)
            else:
                view.apply(changes)
        index = view.index
        if index is not None and index.wants_ivf():
            index.building = True
            _, matrix = index.snapshot()
            self._spawn(view, index, matrix)

    def _spawn(self, view: KbView, index: VectorIndex, matrix: Any) -> None:
        from podium.knowledge.vectors import build_ivf

        async def build() -> None:
            try:
                ivf = await asyncio.to_thread(build_ivf, matrix)
            except Exception:  # the exact search still answers; log why the lists are missing
                log.exception("building the vector lists of %s failed", view.kb_id)
                index.building = False
                return
            if view.index is index:
                index.install(ivf)

        task = asyncio.create_task(build(), name=f"podium-ivf-{view.kb_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def request_key(spec: Any) -> str:
    return "" if spec is None else msgspec.json.encode(spec).decode()
