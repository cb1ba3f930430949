"""Knowledge bases: ingestion, hybrid retrieval with access control, and grounded answers (RAG).

Modules: :mod:`.parsing` (one reader per format), :mod:`.chunking`, :mod:`.embedding` (the local
model and the gateway's models), :mod:`.vectors` (the in-memory index), :mod:`.view` (what a process
keeps per knowledge base), :mod:`.filters` and :mod:`.access` (who reads what), :mod:`.retrieval`
(BM25 + vectors + reciprocal rank fusion), :mod:`.ingest`, :mod:`.kb` (the service),
:mod:`.rag_step` (the request-path step), :mod:`.api` (HTTP), :mod:`.evaluation` (recall, MRR, nDCG).
Storage is :class:`podium.storage.base.KnowledgeStore`. The user's guide is docs/knowledge-bases.md.
"""
