"""Knowledge bases as a service: the one object the HTTP API, the RAG step and the CLI all call.

:class:`Knowledge` creates, finds, changes and deletes a tenant's knowledge bases; ingests documents
now (:meth:`Knowledge.ingest`) or in the background (:meth:`Knowledge.start_ingestion`); re-embeds a
knowledge base when its model changes; and answers queries (:meth:`Knowledge.query`) after checking
the caller's access (:mod:`podium.knowledge.access`). Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from podium.config.knowledge import KnowledgeSettings
from podium.errors import Conflict, NotFound, PodiumError, RequestError
from podium.gateway.permissions import OtherTenant
from podium.knowledge.access import Reader, check_rules, grant
from podium.knowledge.embedding import LOCAL_PREFIX, Embedder, EmbeddingUnavailable
from podium.knowledge.embedding.gateway import GatewayEmbedder, RemoteEmbed
from podium.knowledge.filters import compile_filter
from podium.knowledge.ingest import Ingestion, Source
from podium.knowledge.retrieval import Passage, SearchSettings, search
from podium.knowledge.view import Views, request_key
from podium.storage.base import KnowledgeStore
from podium.storage.knowledge_records import (
    AccessRule,
    DocumentError,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
)
from podium.storage.records import KeyRecord

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Knowledge", "new_kb_id"]

log = logging.getLogger("podium.knowledge")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STALE_SECONDS = 60.0  # a queued or running ingestion not heard of for this long was interrupted
_QUERY_CACHE = 1024


def new_kb_id() -> str:
    import secrets

    return f"kb_{secrets.token_hex(8)}"


class Knowledge:
    def __init__(
        self, store: KnowledgeStore, settings: KnowledgeSettings, remote: RemoteEmbed | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.remote = remote
        self.views = Views(store)
        self._vectors: OrderedDict[tuple[str, str], npt.NDArray[np.float32]] = OrderedDict()
        self._jobs: set[asyncio.Task[Any]] = set()

    def reload(self, settings: KnowledgeSettings) -> None:
        self.settings = settings

    async def close(self) -> None:
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        await self.views.close()

    # ------------------------------------------------------------------ embedding models

    def embedder(self, model: str, tenant: str, principal: KeyRecord | None = None) -> Embedder:
        if model.startswith(LOCAL_PREFIX):
            from podium.knowledge.embedding.minilm import MODEL_NAME, minilm

            if model != MODEL_NAME:
                raise RequestError(
                    f"Unknown local embedding model '{model}': the local model is '{MODEL_NAME}'.",
                    param="embedding_model",
                )
            return minilm()
        if self.remote is None:
            raise RequestError(
                f"The embedding model '{model}' needs the gateway's models; none are configured here."
            )
        return GatewayEmbedder(model, self.remote, principal, tenant)

    async def _query_vector(
        self, model: str, text: str, tenant: str, principal: KeyRecord | None
    ) -> npt.NDArray[np.float32]:
        import numpy as np  # here, not at import: a gateway without knowledge bases never loads it

        key = (model, text)
        found = self._vectors.get(key)
        if found is not None:
            self._vectors.move_to_end(key)
            return found
        try:
            vector = np.asarray(
                (await self.embedder(model, tenant, principal).embed([text]))[0], dtype=np.float32
            )
        except EmbeddingUnavailable as exc:
            raise PodiumError(str(exc), code="embedding_unavailable") from None
        self._vectors[key] = vector
        if len(self._vectors) > _QUERY_CACHE:
            self._vectors.popitem(last=False)
        return vector

    # ------------------------------------------------------------------ knowledge bases

    async def create(
        self,
        *,
        tenant: str,
        name: str,
        actor: str,
        description: str = "",
        embedding_model: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        access: Sequence[AccessRule] = (),
        min_score: float | None = None,
        principal: KeyRecord | None = None,
    ) -> KnowledgeBaseRecord:
        _check_name(name)
        check_rules(tuple(access))
        tokens = chunk_tokens or self.settings.chunk_tokens
        overlap = self.settings.chunk_overlap if chunk_overlap is None else chunk_overlap
        _check_chunking(tokens, overlap)
        model = embedding_model or self.settings.embedding_model
        try:
            dimension = await self.embedder(model, tenant, principal).dimension()
        except EmbeddingUnavailable as exc:
            raise RequestError(str(exc), param="embedding_model") from None
        now = time.time()
        kb = KnowledgeBaseRecord(
            id=new_kb_id(),
            tenant=tenant,
            name=name,
            description=description,
            embedding_model=model,
            dimension=dimension,
            chunk_tokens=tokens,
            chunk_overlap=overlap,
            access=tuple(access),
            min_score=min_score,
            created_at=now,
            updated_at=now,
            created_by=actor,
        )
        try:
            return await self.store.create_kb(kb)
        except ValueError:
            raise Conflict(f"A knowledge base named '{name}' exists already.", param="name") from None

    async def get(self, tenant: str, ref: str) -> KnowledgeBaseRecord:
        """The tenant's knowledge base by name or id; another tenant's is reported as not found."""
        kb = await (self.store.get_kb(ref) if ref.startswith("kb_") else self.store.find_kb(tenant, ref))
        if kb is None:
            raise NotFound(f"No knowledge base '{ref}'.", code="knowledge_base_not_found")
        if kb.tenant != tenant:
            raise OtherTenant(f"No knowledge base '{ref}'.", code="knowledge_base_not_found")
        return kb

    async def list_kbs(self, tenant: str) -> list[KnowledgeBaseRecord]:
        return await self.store.list_kbs(tenant)

    async def update(
        self,
        kb: KnowledgeBaseRecord,
        *,
        name: str | None = None,
        description: str | None = None,
        access: Sequence[AccessRule] | None = None,
        min_score: float | msgspec.UnsetType | None = msgspec.UNSET,
    ) -> KnowledgeBaseRecord:
        changes: dict[str, Any] = {"updated_at": time.time()}
        if name is not None:
            _check_name(name)
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if access is not None:
            check_rules(tuple(access))
            changes["access"] = tuple(access)
        if min_score is not msgspec.UNSET:
            changes["min_score"] = min_score
        try:
            updated = await self.store.update_kb(msgspec.structs.replace(kb, **changes))
        except ValueError:
            raise Conflict(f"A knowledge base named '{name}' exists already.", param="name") from None
        if updated is None:
            raise NotFound(f"No knowledge base '{kb.name}'.", code="knowledge_base_not_found")
        return updated

    async def delete(self, kb: KnowledgeBaseRecord) -> None:
        await self.store.delete_kb(kb.id)
        self.views.forget(kb.id)

    # ------------------------------------------------------------------ documents

    async def documents(self, kb: KnowledgeBaseRecord) -> list[DocumentRecord]:
        return await self.store.documents(kb.id)

    async def delete_document(self, kb: KnowledgeBaseRecord, doc_id: str) -> None:
        if not await self.store.delete_document(kb.id, doc_id):
            raise NotFound(
                f"No document '{doc_id}' in the knowledge base '{kb.name}'.", code="document_not_found"
            )
        self.views.invalidate(kb.id)

    def _ingestion(
        self,
        kb: KnowledgeBaseRecord,
        *,
        actor: str,
        total: int,
        persist: bool,
        principal: KeyRecord | None,
        on_progress: Callable[[IngestionRecord], None] | None = None,
    ) -> Ingestion:
        return Ingestion(
            self.store,
            kb,
            self.embedder(kb.embedding_model, kb.tenant, principal),
            actor=actor,
            total=total,
            max_bytes=self.settings.max_document_bytes,
            persist=persist,
            on_change=lambda: self.views.invalidate(kb.id),
            on_progress=on_progress,
        )

    async def ingest(
        self,
        kb: KnowledgeBaseRecord,
        sources: Iterable[Source] | AsyncIterable[Source],
        *,
        actor: str,
        total: int,
        principal: KeyRecord | None = None,
        on_progress: Callable[[IngestionRecord], None] | None = None,
        persist: bool = False,
    ) -> Ingestion:
        """Ingest ``sources`` now; the batch with its record and per-document outcomes."""
        job = self._ingestion(
            kb, actor=actor, total=total, persist=persist, principal=principal, on_progress=on_progress
        )
        await job.run(sources)
        return job

    async def start_ingestion(
        self,
        kb: KnowledgeBaseRecord,
        sources: list[Source],
        *,
        actor: str,
        principal: KeyRecord | None = None,
    ) -> IngestionRecord:
        """Ingest ``sources`` in the background; the queued record (poll it with :meth:`ingestion`)."""
        job = self._ingestion(kb, actor=actor, total=len(sources), persist=True, principal=principal)
        await job.save()
        self._spawn(job.run(sources), f"podium-ingest-{job.record.id}")
        return job.record

    async def ingestion(self, tenant: str, kb: KnowledgeBaseRecord, ingestion_id: str) -> IngestionRecord:
        record = await self.store.get_ingestion(ingestion_id)
        if record is None or record.kb_id != kb.id or record.tenant != tenant:
            raise NotFound(
                f"No ingestion '{ingestion_id}' of the knowledge base '{kb.name}'.",
                code="ingestion_not_found",
            )
        if record.status in ("queued", "running") and time.time() - record.updated_at > _STALE_SECONDS:
            # Its process stopped before it finished (documents done before that are in).
            error = DocumentError(
                source="", code="interrupted", message="the server running this ingestion stopped"
            )
            record = msgspec.structs.replace(record, status="failed", errors=(*record.errors, error))
        return record

    async def change_model(
        self, kb: KnowledgeBaseRecord, model: str, *, actor: str, principal: KeyRecord | None = None
    ) -> IngestionRecord:
        """Re-embed every chunk with ``model`` in the background; queries use the old vectors until done."""
        embedder = self.embedder(model, kb.tenant, principal)
        try:
            dimension = await embedder.dimension()
        except EmbeddingUnavailable as exc:
            raise RequestError(str(exc), param="embedding_model") from None
        job = Ingestion(
            self.store, kb, embedder, actor=actor, total=kb.chunk_count, max_bytes=0, persist=True
        )
        await job.save()
        self._spawn(self._reembed(job, kb, model, embedder, dimension), f"podium-reembed-{kb.id}")
        return job.record

    async def _reembed(
        self, job: Ingestion, kb: KnowledgeBaseRecord, model: str, embedder: Embedder, dimension: int
    ) -> None:
        import numpy as np

        job.record = msgspec.structs.replace(job.record, status="running")
        for _ in range(3):  # documents written meanwhile: read everything again
            current = await self.store.get_kb(kb.id)
            if current is None:
                return
            vectors: list[tuple[int, bytes]] = []
            after = 0
            try:
                while rows := await self.store.chunk_texts(kb.id, after=after, limit=256):
                    found = await embedder.embed([f"{h}\n{t}" if h else t for _, h, t in rows])
                    vectors.extend(
                        (cid, np.asarray(v, dtype="<f4").tobytes())
                        for (cid, _, _), v in zip(rows, found, strict=True)
                    )
                    after = rows[-1][0]
                    job.record = msgspec.structs.replace(
                        job.record, processed=len(vectors), chunks=len(vectors), updated_at=time.time()
                    )
                    await job.save()
            except (PodiumError, EmbeddingUnavailable) as exc:
                error = DocumentError(
                    source="", code="embedding_failed", message=getattr(exc, "message", str(exc))
                )
                job.record = msgspec.structs.replace(
                    job.record, status="failed", errors=(error,), updated_at=time.time()
                )
                await job.save()
                return
            done = await self.store.replace_vectors(
                kb.id, embedding_model=model, dimension=dimension, vectors=vectors, expected_rev=current.rev
            )
            if done is not None:
                self.views.invalidate(kb.id)
                job.record = msgspec.structs.replace(job.record, status="done", updated_at=time.time())
                await job.save()
                return
        error = DocumentError(
            source="", code="busy", message="documents kept changing; change the model again later"
        )
        job.record = msgspec.structs.replace(
            job.record, status="failed", errors=(error,), updated_at=time.time()
        )
        await job.save()

    def _spawn(self, work: Any, name: str) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("knowledge-base job %s failed", name)

        task = asyncio.create_task(run(), name=name)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    # ------------------------------------------------------------------ queries

    async def query(
        self,
        kbs: Sequence[KnowledgeBaseRecord],
        reader: Reader,
        text: str,
        settings: SearchSettings,
        *,
        filter: dict[str, Any] | None = None,
        principal: KeyRecord | None = None,
        filter_param: str = "filter",
    ) -> list[Passage]:
        """The best passages for ``text`` across ``kbs`` that ``reader`` may read (403 if any is closed)."""
        if not text.strip():
            raise RequestError("The query is empty.", param="query")
        grants = [grant(kb, reader) for kb in kbs]  # every base checked before any is searched
        requested = compile_filter(filter, param=filter_param) if filter is not None else None
        rkey = request_key(filter)
        found: list[Passage] = []
        for kb, g in zip(kbs, grants, strict=True):
            view = await self.views.get(kb.id)
            model = view.embedding_model or kb.embedding_model
            vector = (
                None
                if settings.mode == "bm25"
                else await self._query_vector(model, text, kb.tenant, principal)
            )
            found += await search(
                self.store, kb, view, text, vector, settings, view.allowed(g, requested, rkey)
            )
        if len(kbs) > 1:
            found.sort(key=lambda p: -p.score)
        return found[: settings.k]


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise RequestError(
            "A knowledge base name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            param="name",
        )


def _check_chunking(tokens: int, overlap: int) -> None:
    if not 32 <= tokens <= 2048:
        raise RequestError("`chunk_tokens` must be between 32 and 2048.", param="chunk_tokens")
    if overlap < 0 or overlap * 2 > tokens:
        raise RequestError(
            "`chunk_overlap` must be between 0 and half of chunk_tokens.", param="chunk_overlap"
        )
