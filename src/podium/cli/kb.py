"""``podium kb create | list | documents | ingest | query | delete | eval``: knowledge bases from the shell.

These call the same service as the HTTP API (:class:`podium.knowledge.kb.Knowledge`), directly on the
configured storage, so they work whether or not a server runs; servers see the changes within a second.
Embedding models the gateway serves are called through the configuration's deployments. Changes are
audited as ``cli:<user>``. Queries run as a reader of the tenant with the roles and team given (by
default the ``owner`` role and no team): a knowledge base's access rules apply to them as to a key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from podium.cli.admin_common import actor, audit_change, run_action
from podium.cli.common import add_config_args
from podium.config.model import Config
from podium.storage.base import Storage
from podium.storage.knowledge_records import AccessRule, IngestionRecord

__all__ = ["ProgressBar", "add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    ks = p.add_subparsers(dest="kb_command", metavar="ACTION", required=True)

    def command(cmd: str, help_: str) -> argparse.ArgumentParser:
        c = ks.add_parser(cmd, help=help_, description=help_)
        add_config_args(c)
        c.add_argument("--tenant", default="default", help="the tenant (default: default)")
        return c

    c = command("create", "create a knowledge base")
    c.add_argument("name")
    c.add_argument("--description", default="")
    c.add_argument(
        "--embedding-model", help="local:minilm (default) or an embeddings model served by the gateway"
    )
    c.add_argument("--chunk-tokens", type=int)
    c.add_argument("--chunk-overlap", type=int)
    c.add_argument("--min-score", type=float, help="cosine similarity a passage needs to count as relevant")
    c.add_argument(
        "--access",
        help='access rules as JSON: [{"teams": ["legal"]}, {"roles": ["auditor"], "filter": {...}}]',
    )
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _create(a, s, cfg)))

    ls = command("list", "list the tenant's knowledge bases")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _list(a, s, cfg)))

    d = command("documents", "list a knowledge base's documents")
    d.add_argument("kb", help="the knowledge base's name or id")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _documents(a, s, cfg)))

    i = command(
        "ingest", "ingest files and folders (txt, md, html, pdf, docx, json, jsonl) with a progress bar"
    )
    i.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders to walk")
    i.add_argument("--kb", required=True, help="the knowledge base's name or id")
    i.add_argument("--create", action="store_true", help="create the knowledge base if it does not exist")
    i.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="metadata for every document"
    )
    i.add_argument(
        "--allow", action="append", default=[], metavar="WHO", help="team:NAME, role:NAME or key:ID"
    )
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _ingest(a, s, cfg)))

    q = command("query", "search a knowledge base")
    q.add_argument("query")
    _reader_args(q)
    q.add_argument("-k", type=int, default=5)
    q.add_argument("--mode", choices=("hybrid", "bm25", "vector"), default="hybrid")
    q.add_argument("--filter", help="a metadata filter as JSON")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _query(a, s, cfg)))

    rm = command("delete", "delete a knowledge base, or one of its documents")
    rm.add_argument("kb", help="the knowledge base's name or id")
    rm.add_argument("--document", help="delete only this document (its id)")
    rm.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _delete(a, s, cfg)))

    e = command("eval", "recall@k, MRR and nDCG@10 of a query set with relevance labels")
    e.add_argument("queries", help='JSON Lines: {"query": "...", "relevant": ["source", ...]} per line')
    _reader_args(e)
    e.add_argument("-k", type=int, default=10, help="the k of recall@k (default 10)")
    e.add_argument("--mode", choices=("hybrid", "bm25", "vector", "all"), default="all")
    e.add_argument("--rrf-k", type=int, default=None, help="hybrid: reciprocal rank fusion's k (default 10)")
    e.add_argument("--bm25-weight", type=float, default=1.0, help="hybrid: BM25's weight (default 1)")
    e.add_argument(
        "--vector-weight", type=float, default=None, help="hybrid: the vectors' weight (default 0.5)"
    )
    e.add_argument(
        "--tune",
        action="store_true",
        help="also tune the fusion (k x vector weight) on held-out folds: each fold of queries is scored "
        "with the settings that did best on the others",
    )
    e.add_argument("--folds", type=int, default=5, help="folds for --tune (default 5)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=lambda a: run_action(a, lambda s, cfg: _eval(a, s, cfg)))


def _reader_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kb", required=True, action="append", help="a knowledge base (repeat for several)")
    p.add_argument("--role", action="append", default=[], help="read with this role (default: owner)")
    p.add_argument("--team", help="read as a member of this team")


class ProgressBar:
    """A one-line progress bar on a terminal; a line per document otherwise (logs, CI)."""

    def __init__(self, total: int, stream: Any = None, width: int = 30) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def update(self, record: IngestionRecord, last: str = "") -> None:
        done = min(record.processed, self.total)
        filled = round(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        rate = record.chunks / max(1e-6, time.monotonic() - self.started)
        line = (
            f"[{bar}] {done}/{self.total} files  {record.chunks} chunks ({rate:.0f}/s)  "
            f"+{record.added} ~{record.replaced} ={record.unchanged} !{record.failed}"
        )
        if self.tty:
            self.stream.write("\r" + line[:200])
        else:
            self.stream.write(f"{line}  {last}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _service(storage: Storage, config: Config) -> tuple[Any, Any]:
    from podium.gateway.catalog import Catalog
    from podium.knowledge.embedding.gateway import through_catalog
    from podium.knowledge.kb import Knowledge
    from podium.providers.http import ClientPool

    pool = ClientPool()
    return Knowledge(storage.knowledge, config.knowledge, through_catalog(Catalog(config, pool))), pool


async def _create(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    access: tuple[AccessRule, ...] = ()
    if args.access:
        access = msgspec.json.decode(args.access, type=tuple[AccessRule, ...])
    knowledge, pool = _service(storage, config)
    try:
        kb = await knowledge.create(
            tenant=args.tenant,
            name=args.name,
            actor=actor(),
            description=args.description,
            embedding_model=args.embedding_model,
            chunk_tokens=args.chunk_tokens,
            chunk_overlap=args.chunk_overlap,
            access=access,
            min_score=args.min_score,
        )
    finally:
        await knowledge.close()
        await pool.close()
    await audit_change(
        storage, config, tenant=args.tenant, action="kb.create", resource=f"knowledge-bases/{kb.id}"
    )
    if args.json:
        print(msgspec.json.encode(kb).decode())
    else:
        print(f"created knowledge base {kb.name} ({kb.id}): {kb.embedding_model}, {kb.dimension} dimensions")
    return 0


async def _list(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    from podium.cli.admin_common import print_rows

    kbs = await storage.knowledge.list_kbs(args.tenant)
    print_rows(
        kbs,
        ("name", "id", "embedding_model", "document_count", "chunk_count", "updated_at"),
        as_json=args.json,
    )
    return 0


async def _documents(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    from podium.cli.admin_common import print_rows

    knowledge, pool = _service(storage, config)
    try:
        kb = await knowledge.get(args.tenant, args.kb)
        docs = await knowledge.documents(kb)
    finally:
        await knowledge.close()
        await pool.close()
    print_rows(docs, ("source", "id", "title", "chunk_count", "bytes", "updated_at"), as_json=args.json)
    return 0


def _files(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """(file, source name) for every file to ingest: a folder's files named relative to the folder."""
    from podium.knowledge.parsing import EXTENSIONS

    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
            found.extend(
                (file, file.relative_to(path).as_posix())
                for file in files
                if not any(part.startswith(".") for part in file.relative_to(path).parts)
            )
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise ValueError(f"{raw}: no such file or folder")
    return found


async def _sources(
    files: list[tuple[Path, str]], limit: int, metadata: dict[str, str], allow: tuple[str, ...]
) -> AsyncIterator[Any]:
    from podium.knowledge.ingest import Source

    for file, name in files:
        size = file.stat().st_size
        # A file over the limit is refused by its size, never read.
        data = b"" if size > limit else await asyncio.to_thread(file.read_bytes)
        yield Source(name, data, None, None, dict(metadata), allow, size if size > limit else None)


async def _ingest(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    from podium.errors import NotFound

    metadata = dict(item.split("=", 1) for item in args.metadata if "=" in item)
    files = _files(args.paths)
    knowledge, pool = _service(storage, config)
    try:
        try:
            kb = await knowledge.get(args.tenant, args.kb)
        except NotFound:
            if not args.create:
                raise
            kb = await knowledge.create(tenant=args.tenant, name=args.kb, actor=actor())
            await audit_change(
                storage, config, tenant=args.tenant, action="kb.create", resource=f"knowledge-bases/{kb.id}"
            )
        bar = ProgressBar(len(files))
        last: list[str] = []

        def progress(record: IngestionRecord) -> None:
            bar.update(record, last[-1] if last else "")

        sources = _sources(files, config.knowledge.max_document_bytes, metadata, tuple(args.allow))
        job = await knowledge.ingest(
            kb, _named(sources, last), actor=actor(), total=len(files), on_progress=progress, persist=True
        )
        bar.close()
    finally:
        await knowledge.close()
        await pool.close()
    record = job.record
    await audit_change(
        storage,
        config,
        tenant=args.tenant,
        action="kb.ingest",
        resource=f"knowledge-bases/{kb.id}",
        details={
            "ingestion": record.id,
            "added": record.added,
            "replaced": record.replaced,
            "failed": record.failed,
        },
    )
    if args.json:
        print(msgspec.json.encode(record).decode())
    else:
        print(
            f"{kb.name}: {record.added} added, {record.replaced} replaced, {record.unchanged} unchanged, "
            f"{record.failed} failed; {record.chunks} chunks written"
        )
        for error in record.errors:
            print(f"  {error.source}: {error.code}: {error.message}", file=sys.stderr)
    return 1 if record.failed else 0


async def _named(sources: AsyncIterator[Any], names: list[str]) -> AsyncIterator[Any]:
    async for src in sources:
        names.append(src.source)
        yield src


def _search_reader(args: argparse.Namespace) -> Any:
    from podium.identity.permissions import BUILTIN_ROLES
    from podium.knowledge.access import Reader

    roles = tuple(args.role) or ("owner",)
    permissions: set[str] = set()
    for role in roles:
        if role in BUILTIN_ROLES:
            permissions |= BUILTIN_ROLES[role].permissions
    return Reader(
        tenant=args.tenant,
        actor=actor(),
        key_id=None,
        team=args.team,
        roles=roles,
        permissions=frozenset(permissions),
    )


async def _query(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    from podium.knowledge.retrieval import SearchSettings

    knowledge, pool = _service(storage, config)
    try:
        kbs = [await knowledge.get(args.tenant, ref) for ref in args.kb]
        search = SearchSettings(k=args.k, mode=args.mode, candidates=max(50, 4 * args.k))
        filter_ = json.loads(args.filter) if args.filter else None
        passages = await knowledge.query(kbs, _search_reader(args), args.query, search, filter=filter_)
    finally:
        await knowledge.close()
        await pool.close()
    if args.json:
        for p in passages:
            print(
                json.dumps(
                    {
                        "id": p.id,
                        "source": p.source,
                        "heading": p.heading,
                        "score": p.score,
                        "similarity": p.similarity,
                        "text": p.text,
                    }
                )
            )
        return 0
    for n, p in enumerate(passages, start=1):
        print(f"[{n}] {p.source} — {p.heading}  (score {p.score:.4f}, similarity {p.similarity:.3f}, {p.id})")
        print("    " + p.text[:300].replace("\n", " "))
    if not passages:
        print("(nothing found)")
    return 0


async def _delete(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    knowledge, pool = _service(storage, config)
    try:
        kb = await knowledge.get(args.tenant, args.kb)
        if args.document:
            await knowledge.delete_document(kb, args.document)
            what = f"document {args.document} of {kb.name}"
        else:
            await knowledge.delete(kb)
            what = f"knowledge base {kb.name} ({kb.id})"
    finally:
        await knowledge.close()
        await pool.close()
    await audit_change(
        storage,
        config,
        tenant=args.tenant,
        action="kb.delete",
        resource=f"knowledge-bases/{kb.id}",
        details={"document": args.document},
    )
    print(f"deleted {what}")
    return 0


async def _eval(args: argparse.Namespace, storage: Storage, config: Config) -> int:
    import dataclasses

    from podium.knowledge.evaluation import FUSION_GRID, Scores, held_out, load_queries, mean_scores, score
    from podium.knowledge.retrieval import DEFAULT_VECTOR_WEIGHT, RRF_K, Mode, SearchSettings

    text = await asyncio.to_thread(Path(args.queries).read_text, encoding="utf-8")
    queries = load_queries(text, name=args.queries)
    modes: tuple[Mode, ...] = ("bm25", "vector", "hybrid") if args.mode == "all" else (args.mode,)
    rrf_k = RRF_K if args.rrf_k is None else args.rrf_k
    vector_weight = DEFAULT_VECTOR_WEIGHT if args.vector_weight is None else args.vector_weight
    if rrf_k < 1 or args.bm25_weight < 0 or vector_weight < 0 or args.folds < 2:
        raise ValueError("--rrf-k is at least 1, --folds at least 2, and weights are not negative")
    knowledge, pool = _service(storage, config)
    results: dict[str, Any] = {}
    chosen: list[tuple[int, float]] = []
    try:
        kbs = [await knowledge.get(args.tenant, ref) for ref in args.kb]
        reader = _search_reader(args)

        async def run(search: SearchSettings) -> list[Scores]:
            scores = []
            for q in queries:
                passages = await knowledge.query(kbs, reader, q.query, search)
                ranked = list(dict.fromkeys(p.doc_id if p.doc_id in q.gains else p.source for p in passages))
                scores.append(score(ranked, q.gains, args.k))
            return scores

        base = SearchSettings(k=max(50, 5 * args.k), candidates=max(100, 10 * args.k))
        for mode in modes:
            search = dataclasses.replace(
                base, mode=mode, rrf_k=rrf_k, bm25_weight=args.bm25_weight, vector_weight=vector_weight
            )
            results[mode] = mean_scores(await run(search))
        if args.tune:
            table = {
                (k, w): await run(dataclasses.replace(base, mode="hybrid", rrf_k=k, vector_weight=w))
                for k, w in FUSION_GRID
            }
            tuned = held_out(table, folds=args.folds)
            results["tuned"] = tuned.scores
            chosen = tuned.chosen
    finally:
        await knowledge.close()
        await pool.close()
    if args.json:
        out: dict[str, Any] = {
            m: {"recall": s.recall, "mrr": s.mrr, "ndcg@10": s.ndcg10} for m, s in results.items()
        }
        if chosen:
            out["tuned"]["chosen"] = [{"rrf_k": k, "vector_weight": w} for k, w in chosen]
        print(json.dumps(out))
        return 0
    print(
        f"{len(queries)} queries, k = {args.k}; hybrid: rrf_k {rrf_k}, weights {args.bm25_weight:g} : {vector_weight:g}"
    )
    print(f"{'mode':<8} {'recall@' + str(args.k):>10} {'MRR':>8} {'nDCG@10':>8}")
    for name, s in results.items():
        print(f"{name:<8} {s.recall:>10.3f} {s.mrr:>8.3f} {s.ndcg10:>8.3f}")
    if chosen:
        picks = "; ".join(f"rrf_k {k}, 1 : {w:g}" for k, w in chosen)
        print(
            f"tuned: hybrid, each of {len(chosen)} folds scored with the fusion best on the others ({picks})"
        )
    return 0
