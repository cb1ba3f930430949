"""The knowledge-base API under ``/v1/knowledge-bases``: manage bases, ingest and delete documents,
follow background ingestions, and query.

Every route declares its permission (``knowledge_bases:read`` or ``:write``) with
:func:`~podium.gateway.permissions.admin_route`, so API keys, sessions and OIDC tokens all work, every
change and every refusal is audited, and errors come in OpenAI's shape. Reads and queries then go
through the knowledge base's own access rules (:mod:`podium.knowledge.access`).

Documents arrive as JSON (``{"documents": [{"source", "text" | "content_base64", …}]}``, up to
``server.max_body_bytes``) or as a multipart upload (any number of ``file`` parts, each up to
``knowledge.max_document_bytes``, read in pieces so a larger one is refused without being held).
More than ``knowledge.background_documents`` documents, or ``background: true``, are ingested in the
background: the answer is ``202`` with the ingestion, to poll at ``…/ingestions/{id}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from aiohttp import BodyPartReader, web

from podium.errors import PermissionDenied, RequestError
from podium.gateway.admin import decode_body
from podium.gateway.http_io import read_json_body
from podium.gateway.permissions import admin_route
from podium.gateway.router import Route
from podium.identity.principal import Principal
from podium.knowledge.access import WRITE, Reader, grant
from podium.knowledge.ingest import Outcome, Source
from podium.knowledge.retrieval import DEFAULT_VECTOR_WEIGHT, RRF_K, Passage, SearchSettings
from podium.storage.knowledge_records import AccessRule, DocumentRecord, IngestionRecord, KnowledgeBaseRecord

if TYPE_CHECKING:
    from podium.gateway.app import Gateway
    from podium.knowledge.kb import Knowledge

__all__ = ["ROUTES"]

_FIELD_LIMIT = 64 * 1024  # a multipart form field that is not a file (metadata, allow)


# ------------------------------------------------------------------ shapes


class NewKnowledgeBase(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    embedding_model: str | None = None
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    access: tuple[AccessRule, ...] = ()
    min_score: float | None = None


class KnowledgeBaseChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | None = None
    description: str | None = None
    access: tuple[AccessRule, ...] | None = None
    min_score: float | msgspec.UnsetType | None = msgspec.UNSET
    embedding_model: str | None = None


class KnowledgeBaseView(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap: int
    access: tuple[AccessRule, ...]
    min_score: float | None
    document_count: int
    chunk_count: int
    created_at: float
    updated_at: float
    created_by: str
    object: str = "knowledge_base"

    @classmethod
    def of(cls, kb: KnowledgeBaseRecord) -> KnowledgeBaseView:
        return cls(
            kb.id, kb.name, kb.description, kb.embedding_model, kb.dimension, kb.chunk_tokens, kb.chunk_overlap,
            kb.access, kb.min_score, kb.document_count, kb.chunk_count, kb.created_at, kb.updated_at, kb.created_by,
        )  # fmt: skip


class NewDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    text: str | None = None
    content_base64: str | None = None
    media_type: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = {}
    allow: tuple[str, ...] = ()


class NewDocuments(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    documents: tuple[NewDocument, ...]
    background: bool | None = None


class DocumentView(msgspec.Struct, frozen=True):
    id: str
    source: str
    title: str
    media_type: str
    metadata: dict[str, Any]
    allow: tuple[str, ...]
    bytes: int
    chunk_count: int
    content_hash: str
    created_at: float
    updated_at: float
    object: str = "document"

    @classmethod
    def of(cls, d: DocumentRecord) -> DocumentView:
        return cls(
            d.id, d.source, d.title, d.media_type, d.metadata, d.allow, d.bytes, d.chunk_count, d.content_hash,
            d.created_at, d.updated_at,
        )  # fmt: skip


class OutcomeView(msgspec.Struct, frozen=True, omit_defaults=True):
    source: str
    status: str
    id: str | None = None
    chunks: int = 0
    error: dict[str, str] | None = None

    @classmethod
    def of(cls, o: Outcome) -> OutcomeView:
        error = {"code": o.error.code, "message": o.error.message} if o.error is not None else None
        return cls(o.source, o.status, o.document.id if o.document else None, o.chunks, error)


class IngestionView(msgspec.Struct, frozen=True):
    record: IngestionRecord
    documents: tuple[OutcomeView, ...] | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object": "ingestion", **msgspec.structs.asdict(self.record)}
        out["knowledge_base"] = out.pop("kb_id")
        if self.documents is not None:
            out["documents"] = self.documents
        return out


class QueryBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    query: str
    k: int = 5
    filter: dict[str, Any] | None = None
    mode: Literal["hybrid", "bm25", "vector"] = "hybrid"
    min_score: float | None = None
    rerank: Literal["mmr"] | None = None
    bm25_weight: float = 1.0
    vector_weight: float = DEFAULT_VECTOR_WEIGHT
    rrf_k: int = RRF_K


class PassageView(msgspec.Struct, frozen=True):
    id: str
    knowledge_base: str
    document_id: str
    source: str
    title: str
    heading: str
    page: int | None
    text: str
    score: float
    similarity: float
    bm25_rank: int | None
    vector_rank: int | None
    object: str = "passage"

    @classmethod
    def of(cls, p: Passage) -> PassageView:
        return cls(
            p.id, p.kb_name, p.doc_id, p.source, p.title, p.heading, p.page, p.text, p.score, p.similarity,
            p.bm25_rank, p.vector_rank,
        )  # fmt: skip


# ------------------------------------------------------------------ helpers


def _knowledge(gw: Gateway) -> Knowledge:
    return gw.knowledge


def _settings(body: QueryBody) -> SearchSettings:
    if not 1 <= body.k <= 100:
        raise RequestError("`k` must be between 1 and 100.", param="k")
    if body.bm25_weight < 0 or body.vector_weight < 0:
        raise RequestError("Weights must not be negative.", param="bm25_weight")
    if not 1 <= body.rrf_k <= 1000:
        raise RequestError("`rrf_k` must be between 1 and 1000.", param="rrf_k")
    return SearchSettings(
        k=body.k,
        mode=body.mode,
        bm25_weight=body.bm25_weight,
        vector_weight=body.vector_weight,
        rrf_k=body.rrf_k,
        candidates=max(50, 4 * body.k),
        rerank=body.rerank,
        min_score=body.min_score,
    )


def _readable(kb: KnowledgeBaseRecord, principal: Principal) -> bool:
    if WRITE in principal.permissions:
        return True
    try:
        grant(kb, Reader.of(principal))
    except PermissionDenied:
        return False
    return True


def _ingestion_payload(record: IngestionRecord, outcomes: list[Outcome] | None = None) -> dict[str, Any]:
    return IngestionView(
        record, tuple(OutcomeView.of(o) for o in outcomes) if outcomes is not None else None
    ).payload()


# ------------------------------------------------------------------ knowledge bases


@admin_route("knowledge_bases:write", body=NewKnowledgeBase, response=KnowledgeBaseView)
async def create_knowledge_base(
    gw: Gateway, request: web.BaseRequest, principal: Principal
) -> tuple[int, Any]:
    """Create a knowledge base in the caller's tenant."""
    body = decode_body(
        await read_json_body(request, gw.config.server.max_body_bytes), NewKnowledgeBase, "knowledge base"
    )
    kb = await _knowledge(gw).create(
        tenant=principal.tenant,
        name=body.name,
        actor=principal.actor,
        description=body.description,
        embedding_model=body.embedding_model,
        chunk_tokens=body.chunk_tokens,
        chunk_overlap=body.chunk_overlap,
        access=body.access,
        min_score=body.min_score,
        principal=principal.key,
    )
    return 201, KnowledgeBaseView.of(kb)


@admin_route("knowledge_bases:read", response=list[KnowledgeBaseView])
async def list_knowledge_bases(
    gw: Gateway, request: web.BaseRequest, principal: Principal
) -> tuple[int, Any]:
    """The caller's tenant's knowledge bases that the caller may read (all of them with write access)."""
    kbs = await _knowledge(gw).list_kbs(principal.tenant)
    return 200, {
        "object": "list",
        "data": [KnowledgeBaseView.of(kb) for kb in kbs if _readable(kb, principal)],
    }


async def _readable_kb(gw: Gateway, principal: Principal, kb: str) -> KnowledgeBaseRecord:
    found = await _knowledge(gw).get(principal.tenant, kb)
    if WRITE not in principal.permissions:
        grant(found, Reader.of(principal))
    return found


@admin_route("knowledge_bases:read", response=KnowledgeBaseView)
async def get_knowledge_base(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """One knowledge base, by name or id."""
    return 200, KnowledgeBaseView.of(await _readable_kb(gw, principal, kb))


@admin_route("knowledge_bases:write", body=KnowledgeBaseChange, response=KnowledgeBaseView)
async def change_knowledge_base(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """Rename, describe, set access rules or the relevance threshold; a new embedding model re-embeds
    every chunk in the background (202 with the job)."""
    knowledge = _knowledge(gw)
    found = await knowledge.get(principal.tenant, kb)
    body = decode_body(
        await read_json_body(request, gw.config.server.max_body_bytes), KnowledgeBaseChange, "change"
    )
    changed = await knowledge.update(
        found, name=body.name, description=body.description, access=body.access, min_score=body.min_score
    )
    if body.embedding_model is not None and body.embedding_model != found.embedding_model:
        job = await knowledge.change_model(
            changed, body.embedding_model, actor=principal.actor, principal=principal.key
        )
        return 202, {
            **msgspec.structs.asdict(KnowledgeBaseView.of(changed)),
            "ingestion": _ingestion_payload(job),
        }
    return 200, KnowledgeBaseView.of(changed)


@admin_route("knowledge_bases:write")
async def delete_knowledge_base(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """Delete a knowledge base with all its documents."""
    found = await _knowledge(gw).get(principal.tenant, kb)
    await _knowledge(gw).delete(found)
    return 200, {"id": found.id, "object": "knowledge_base", "deleted": True}


# ------------------------------------------------------------------ documents


@admin_route("knowledge_bases:write", body=NewDocuments, response=dict)
async def add_documents(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """Ingest documents (JSON, or a multipart upload of files); unchanged ones are left as they are."""
    knowledge = _knowledge(gw)
    found = await knowledge.get(principal.tenant, kb)
    media = (request.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        sources, background = await _multipart(request, knowledge.settings.max_document_bytes)
    else:
        body = decode_body(
            await read_json_body(request, gw.config.server.max_body_bytes), NewDocuments, "documents"
        )
        sources, background = [_source(d, i) for i, d in enumerate(body.documents)], body.background
    if not sources:
        raise RequestError("Send at least one document.", param="documents")
    if background or (background is None and len(sources) > knowledge.settings.background_documents):
        record = await knowledge.start_ingestion(
            found, sources, actor=principal.actor, principal=principal.key
        )
        return 202, _ingestion_payload(record)
    job = await knowledge.ingest(
        found, sources, actor=principal.actor, total=len(sources), principal=principal.key
    )
    if len(sources) == 1 and len(job.outcomes) == 1 and job.outcomes[0].error is not None:
        error = job.outcomes[0].error
        from podium.knowledge.errors import DocumentRejected

        status = {"document_too_large": 413, "unsupported_format": 415}.get(error.code)
        raise DocumentRejected(error.message, code=error.code, status=status)
    added = any(o.status == "added" for o in job.outcomes)
    return 201 if added else 200, _ingestion_payload(job.record, job.outcomes)


def _source(doc: NewDocument, index: int) -> Source:
    if (doc.text is None) == (doc.content_base64 is None):
        raise RequestError(
            "Give a document `text` or `content_base64`, not both.", param=f"documents[{index}]"
        )
    if doc.text is not None:
        data = doc.text.encode()
        media = doc.media_type or ("text/markdown" if doc.source.endswith((".md", ".markdown")) else None)
    else:
        try:
            data = base64.b64decode(doc.content_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(
                "`content_base64` is not base64.", param=f"documents[{index}].content_base64"
            ) from None
        media = doc.media_type
    if not doc.source.strip():
        raise RequestError(
            "A document needs a `source` (its path or id).", param=f"documents[{index}].source"
        )
    return Source(doc.source, data, media, doc.title, doc.metadata, doc.allow)


async def _multipart(request: web.BaseRequest, limit: int) -> tuple[list[Source], bool | None]:
    reader = await request.multipart()
    files: list[tuple[str, bytes, str | None, int | None]] = []
    metadata: dict[str, Any] = {}
    allow: tuple[str, ...] = ()
    background: bool | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: not a way documents are sent
        name = part.name or ""
        if part.filename is not None:
            data, size = await _read_limited(part, limit)
            files.append((part.filename, data, part.headers.get("Content-Type"), size))
            continue
        value = (await part.read(decode=True))[:_FIELD_LIMIT].decode(errors="replace")
        if name == "metadata":
            try:
                metadata = msgspec.json.decode(value, type=dict[str, Any])
            except msgspec.DecodeError:
                raise RequestError("The `metadata` field must be a JSON object.", param="metadata") from None
        elif name == "allow":
            allow = tuple(a.strip() for a in value.split(",") if a.strip())
        elif name == "background":
            background = value.strip().lower() in ("1", "true", "yes")
    return [
        Source(
            name,
            data,
            None if media in (None, "application/octet-stream") else media,
            None,
            metadata,
            allow,
            size,
        )
        for name, data, media, size in files
    ], background


async def _read_limited(part: Any, limit: int) -> tuple[bytes, int | None]:
    """The part's bytes; past ``limit`` it reads on without keeping them, and gives the size instead."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks = []
    return (b"".join(chunks), None) if size <= limit else (b"", size)


@admin_route("knowledge_bases:read", response=list[DocumentView])
async def list_documents(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """The knowledge base's documents the caller may read."""
    found = await _knowledge(gw).get(principal.tenant, kb)
    docs = await _knowledge(gw).documents(found)
    if WRITE not in principal.permissions:
        g = grant(found, Reader.of(principal))
        docs = [d for d in docs if g.allows(d)]
    return 200, {"object": "list", "data": [DocumentView.of(d) for d in docs]}


@admin_route("knowledge_bases:write")
async def delete_document(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str, document_id: str
) -> tuple[int, Any]:
    """Delete one document and its chunks."""
    found = await _knowledge(gw).get(principal.tenant, kb)
    await _knowledge(gw).delete_document(found, document_id)
    return 200, {"id": document_id, "object": "document", "deleted": True}


@admin_route("knowledge_bases:read", response=dict)
async def get_ingestion(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str, ingestion_id: str
) -> tuple[int, Any]:
    """A background ingestion's progress: counts, and the documents that failed with why."""
    found = await _knowledge(gw).get(principal.tenant, kb)
    return 200, _ingestion_payload(await _knowledge(gw).ingestion(principal.tenant, found, ingestion_id))


@admin_route("knowledge_bases:read", response=dict)
async def list_ingestions(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """The knowledge base's recent ingestions, newest first."""
    found = await _knowledge(gw).get(principal.tenant, kb)
    records = await _knowledge(gw).store.ingestions(found.id)
    return 200, {"object": "list", "data": [_ingestion_payload(r) for r in records]}


# ------------------------------------------------------------------ queries


@admin_route("knowledge_bases:read", body=QueryBody, response=list[PassageView])
async def query_knowledge_base(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, kb: str
) -> tuple[int, Any]:
    """The passages that best answer a query: BM25 and vectors fused, filtered by metadata and access."""
    knowledge = _knowledge(gw)
    found = await knowledge.get(principal.tenant, kb)
    body = decode_body(await read_json_body(request, gw.config.server.max_body_bytes), QueryBody, "query")
    passages = await knowledge.query(
        [found],
        Reader.of(principal),
        body.query,
        _settings(body),
        filter=body.filter,
        principal=principal.key,
    )
    return 200, {"object": "list", "data": [PassageView.of(p) for p in passages]}


ROUTES = [
    Route("POST", "/v1/knowledge-bases", create_knowledge_base),
    Route("GET", "/v1/knowledge-bases", list_knowledge_bases),
    Route("GET", "/v1/knowledge-bases/{kb}", get_knowledge_base),
    Route("PATCH", "/v1/knowledge-bases/{kb}", change_knowledge_base),
    Route("DELETE", "/v1/knowledge-bases/{kb}", delete_knowledge_base),
    Route("POST", "/v1/knowledge-bases/{kb}/documents", add_documents),
    Route("GET", "/v1/knowledge-bases/{kb}/documents", list_documents),
    Route("DELETE", "/v1/knowledge-bases/{kb}/documents/{document_id}", delete_document),
    Route("GET", "/v1/knowledge-bases/{kb}/ingestions", list_ingestions),
    Route("GET", "/v1/knowledge-bases/{kb}/ingestions/{ingestion_id}", get_ingestion),
    Route("POST", "/v1/knowledge-bases/{kb}/query", query_knowledge_base),
]
