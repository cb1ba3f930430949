"""Knowledge-base retrieval: quality (BM25 vs vectors vs hybrid) and scale (ingestion, query latency).

    python -m benchmarks.retrieval                    # everything: quality, then 10k and 100k chunks
    python -m benchmarks.retrieval --quality          # the labelled corpus only
    python -m benchmarks.retrieval --sizes 10000 --backends sqlite,postgres,pgvector
    python -m benchmarks.retrieval --export-newsgroups DIR   # files + queries for `podium kb eval`

**Quality.** No PyPI package ships a BEIR-style collection (corpus + queries + qrels): beir,
ir-datasets and mteb download their data at run time, which this project may not do. The labelled
corpus used here is the Lee corpus, which the ``gensim`` wheel ships in ``gensim/test/test_data``:
50 news articles with human similarity ratings for every pair (Lee, Pincombe & Welsh, 2005; mean of
about ten raters, scaled 0..1), plus the 300 articles of the Lee *background* corpus as distractors.
Each of the 39 articles that raters found at least one close match for (rating ≥ 0.6) is a query —
its lead sentence ("lead") or its whole text ("full") — and its relevant documents are those other
articles, graded 3 / 2 / 1 for ratings ≥ 0.8 / 0.7 / 0.6. The query's own article is left out of
its ranking. A second corpus ships in the same place: ``mini_newsgroup``, 200 posts of 20 Newsgroups
(alt.atheism, sci.space), indexed without their headers; each thread of two or more posts whose subject
line has two searchable words is a query (the subject), its posts the relevant documents. The fusion's
defaults were chosen on Lee only, so the newsgroups test them on data that did not pick them; each
corpus also reports hybrid tuned by cross-validation (``held_out``: 5 folds, each scored with the
fusion best on the other four). Documents go through the real path: chunking, the local MiniLM model,
SQLite, the hybrid search. Read the figures as a small-sample comparison, not a leaderboard.

**Scale.** Synthetic documents (Zipf-distributed words from a 30,000-word vocabulary, 60 words a
chunk, 100 chunks a document) with clustered random 384-dimension vectors, written through
``KnowledgeStore.put_document`` — so ingestion is storage throughput, with the embedding model
measured apart (MiniLM chunks per second and query embedding time on this machine). Queries are a
chunk's two rarest words and one of its words at random, with a vector near the chunk's; the hybrid
query is the request path's search minus the query's embedding: full text in the database, vectors
in memory (IVF past 20k rows) or by pgvector's HNSW, fusion, and fetching the chunks. The RAG step's
cost to a call that does not ask for RAG is measured too. PostgreSQL runs at ``PODIUM_TEST_POSTGRES_URL``; pgvector on a
``pgserver`` instance started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import copyreg
import importlib.util
import io
import json
import os
import pickle
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from podium.knowledge.access import Grant
from podium.knowledge.evaluation import FUSION_GRID, Scores, held_out, mean_scores, score
from podium.knowledge.retrieval import DEFAULT_VECTOR_WEIGHT, RRF_K, SearchSettings, query_terms, search
from podium.knowledge.view import Views
from podium.storage import open_storage
from podium.storage.knowledge_records import ChunkRecord, DocumentRecord, KnowledgeBaseRecord

DIM = 384
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# ------------------------------------------------------------------ quality: labelled corpora

# (own document, query, gains): the own document (a query made from a document) is left out of its ranking.
Labelled = list[tuple[str | None, str, dict[str, float]]]


def _gensim_data() -> Path:
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the labelled corpora ship in gensim: pip install 'podium-gateway[retrieval-bench]'")
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"


def lee() -> tuple[list[str], list[str], np.ndarray]:
    data = _gensim_data()
    docs = [
        d.strip()
        for d in (data / "lee.cor").read_text(encoding="utf-8", errors="replace").splitlines()
        if d.strip()
    ]
    background = [
        d.strip()
        for d in (data / "lee_background.cor").read_text(encoding="utf-8", errors="replace").splitlines()
        if d.strip()
    ]
    ratings = np.loadtxt(data / "similarities0-1.txt")
    upper = np.triu(ratings, 1)
    return docs, background, upper + upper.T


def labelled_queries(docs: list[str], ratings: np.ndarray, variant: str) -> Labelled:
    queries: Labelled = []
    for i, text in enumerate(docs):
        gains = {
            f"lee-{j:02d}": (3.0 if r >= 0.8 else 2.0 if r >= 0.7 else 1.0)
            for j, r in enumerate(ratings[i])
            if j != i and r >= 0.6
        }
        if gains:
            query = _SENTENCE.split(text)[0] if variant == "lead" else text
            queries.append((f"lee-{i:02d}", query, gains))
    return queries


class _Ignored:
    """What the newsgroup pickle's numpy arrays (its labels, which we read from the posts) become."""

    def __init__(self, *args: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _NewsUnpickler(pickle.Unpickler):
    """Builds dicts, lists and strings only: any other class in the file is refused."""

    def find_class(self, module: str, name: str) -> Any:
        allowed: dict[tuple[str, str], Any] = {
            ("copy_reg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
            ("__builtin__", "object"): object,
            ("__builtin__", "dict"): dict,
            ("sklearn.datasets.base", "Bunch"): dict,
            ("numpy.core.multiarray", "_reconstruct"): _Ignored,
            ("numpy", "ndarray"): _Ignored,
            ("numpy", "dtype"): _Ignored,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return allowed[(module, name)]


_RE = re.compile(r"^(re:\s*)+", re.IGNORECASE)


def newsgroup_threads() -> tuple[list[tuple[str, str]], Labelled]:
    """The 200 posts of gensim's ``mini_newsgroup`` (20 Newsgroups: alt.atheism, sci.space), bodies only;
    a query is a thread's subject line and its relevant documents are the thread's posts."""
    raw = zlib.decompress((_gensim_data() / "mini_newsgroup").read_bytes())
    posts = _NewsUnpickler(io.BytesIO(raw), encoding="latin1").load()["data"]
    docs: list[tuple[str, str]] = []
    threads: dict[str, list[str]] = {}
    subjects: dict[str, str] = {}
    for i, post in enumerate(posts):
        head, _, body = post.partition("\n\n")
        found = re.search(r"^Subject:(.*)$", head, re.MULTILINE)
        subject = _RE.sub("", found.group(1).strip()).strip() if found else ""
        source = f"news-{i:03d}"
        docs.append((source, body.strip()))
        key = " ".join(subject.lower().split())
        if len(query_terms(subject)) >= 2:  # "Level 5?" is no question to search for
            threads.setdefault(key, []).append(source)
            subjects.setdefault(key, subject)
    queries: Labelled = [
        (None, subjects[key], dict.fromkeys(members, 1.0))
        for key, members in sorted(threads.items())
        if len(members) >= 2
    ]
    return docs, queries


async def _rankings(
    knowledge: Any, kb: Any, reader: Any, queries: Labelled, settings: SearchSettings
) -> list[Scores]:
    scores = []
    for own, query, gains in queries:
        passages = await knowledge.query([kb], reader, query, settings)
        ranked = [s for s in dict.fromkeys(p.source for p in passages) if s != own]
        scores.append(score(ranked, gains, 10))
    return scores


def _row(m: Scores) -> dict[str, float]:
    return {"recall@10": round(m.recall, 3), "mrr": round(m.mrr, 3), "ndcg@10": round(m.ndcg10, 3)}


async def _compare(knowledge: Any, kb: Any, reader: Any, queries: Labelled) -> dict[str, Any]:
    """BM25, vectors, hybrid with the shipped defaults and with equal weights, and hybrid tuned on
    held-out folds (FUSION_GRID; 5 folds; each fold scored with the settings best on the other four)."""
    runs = {
        "bm25": SearchSettings(k=60, mode="bm25", candidates=100),
        "vector": SearchSettings(k=60, mode="vector", candidates=100),
        f"hybrid (default: k {RRF_K}, 1 : {DEFAULT_VECTOR_WEIGHT})": SearchSettings(
            k=60, mode="hybrid", candidates=100
        ),
        "hybrid (k 60, 1 : 1)": SearchSettings(
            k=60, mode="hybrid", candidates=100, rrf_k=60, vector_weight=1.0
        ),
    }
    table: dict[str, Any] = {"queries": len(queries)}
    for name, settings in runs.items():
        table[name] = _row(mean_scores(await _rankings(knowledge, kb, reader, queries, settings)))
    per_setting = {
        (k, w): await _rankings(
            knowledge,
            kb,
            reader,
            queries,
            SearchSettings(k=60, mode="hybrid", candidates=100, rrf_k=k, vector_weight=w),
        )
        for k, w in FUSION_GRID
    }
    table["grid nDCG@10"] = {
        f"k {k}, 1 : {w}": round(mean_scores(v).ndcg10, 3) for (k, w), v in per_setting.items()
    }
    tuned = held_out(per_setting, folds=5)
    table["hybrid (tuned, held out)"] = {
        **_row(tuned.scores),
        "chosen": sorted({f"k {k}, 1 : {w}" for k, w in tuned.chosen}),
    }
    return table


async def quality() -> dict[str, Any]:
    from podium.config.knowledge import KnowledgeSettings
    from podium.knowledge.access import Reader
    from podium.knowledge.ingest import Source
    from podium.knowledge.kb import Knowledge

    docs, background, ratings = lee()
    news, news_queries = newsgroup_threads()
    with tempfile.TemporaryDirectory() as tmp:
        storage = await open_storage(f"sqlite:///{tmp}/bench.db")
        await storage.migrate()
        knowledge = Knowledge(storage.knowledge, KnowledgeSettings())
        try:
            reader = Reader("bench", "bench", None, None, ("owner",), frozenset({"knowledge_bases:read"}))
            kb = await knowledge.create(tenant="bench", name="lee", actor="bench")
            sources = [Source(f"lee-{i:02d}", d.encode()) for i, d in enumerate(docs)]
            sources += [Source(f"background-{i:03d}", d.encode()) for i, d in enumerate(background)]
            t0 = time.perf_counter()
            job = await knowledge.ingest(kb, sources, actor="bench", total=len(sources))
            ingest_s = time.perf_counter() - t0
            out: dict[str, Any] = {
                "lee": {"documents": len(sources), "chunks": job.record.chunks, "ingest_seconds": round(ingest_s, 2)},
                "embedding": "local:minilm",
            }  # fmt: skip
            for variant in ("lead", "full"):
                out[f"lee {variant}"] = await _compare(
                    knowledge, kb, reader, labelled_queries(docs, ratings, variant)
                )
            news_kb = await knowledge.create(tenant="bench", name="newsgroups", actor="bench")
            job = await knowledge.ingest(
                news_kb, [Source(name, text.encode()) for name, text in news], actor="bench", total=len(news)
            )
            out["newsgroups"] = {"documents": len(news), "chunks": job.record.chunks}
            out["newsgroup threads"] = await _compare(knowledge, news_kb, reader, news_queries)
            return out
        finally:
            await knowledge.close()
            await storage.close()


def export_newsgroups(directory: Path) -> None:
    """The newsgroup corpus as files and a query set, for ``podium kb ingest`` and ``podium kb eval``."""
    docs, queries = newsgroup_threads()
    (directory / "docs").mkdir(parents=True, exist_ok=True)
    for source, text in docs:
        (directory / "docs" / f"{source}.txt").write_text(text + "\n", encoding="utf-8")
    lines = [
        json.dumps({"query": query, "relevant": [f"{s}.txt" for s in gains]}) for _, query, gains in queries
    ]
    (directory / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def quality_table(found: dict[str, Any]) -> str:
    lines = []
    for corpus, table in found.items():
        if not isinstance(table, dict) or "queries" not in table:
            continue
        lines.append(f"{corpus} ({table['queries']} queries)   nDCG@10  recall@10    MRR")
        for method, m in table.items():
            if method == "grid nDCG@10":
                lines.append("  hybrid nDCG@10 by rrf_k (rows) and vector weight 0.25 / 0.5 / 0.75 / 1:")
                for k in sorted({k for k, _ in FUSION_GRID}):
                    cells = " ".join(f"{m[f'k {k}, 1 : {w}']:.3f}" for kk, w in FUSION_GRID if kk == k)
                    lines.append(f"    k {k:<3} {cells}")
            elif isinstance(m, dict):
                extra = f"  chosen per fold: {'; '.join(m['chosen'])}" if "chosen" in m else ""
                lines.append(
                    f"  {method:<32} {m['ndcg@10']:>7.3f} {m['recall@10']:>10.3f} {m['mrr']:>6.3f}{extra}"
                )
    return "\n".join(lines)


# ------------------------------------------------------------------ scale: synthetic chunks


class Corpus:
    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = [f"w{i:05d}" for i in range(30_000)]
        weights = 1.0 / np.arange(1, len(self.vocab) + 1) ** 1.1
        self.p = weights / weights.sum()
        self.centers = self.rng.standard_normal((256, DIM)).astype(np.float32)

    def chunk(self) -> tuple[str, np.ndarray]:
        words = self.rng.choice(len(self.vocab), size=60, p=self.p)
        vector = self.centers[self.rng.integers(0, 256)] + 0.6 * self.rng.standard_normal(DIM).astype(
            np.float32
        )
        return " ".join(self.vocab[w] for w in words), (vector / np.linalg.norm(vector)).astype(np.float32)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def scale(url: str, size: int, *, queries: int = 200) -> dict[str, Any]:
    storage = await open_storage(url, pool_size=4)
    await storage.migrate()
    store = storage.knowledge
    try:
        now = time.time()
        kb = KnowledgeBaseRecord(
            id="kb_" + os.urandom(8).hex(), tenant="bench", name=f"scale-{size}", embedding_model="bench",
            dimension=DIM, created_at=now, updated_at=now, created_by="bench",
        )  # fmt: skip
        await store.create_kb(kb)
        corpus = Corpus()
        samples: list[tuple[str, np.ndarray]] = []
        per_doc = 100
        write_s = 0.0
        for d in range(size // per_doc):
            chunks = []
            for o in range(per_doc):
                text, vector = corpus.chunk()
                if len(samples) < queries and corpus.rng.random() < 0.05:
                    samples.append((text, vector))
                chunks.append(
                    ChunkRecord(
                        ord=o,
                        text=text,
                        heading=f"doc {d}",
                        tokens=60,
                        embedding=vector.astype("<f4").tobytes(),
                    )
                )
            doc = DocumentRecord(
                id="doc_" + os.urandom(8).hex(), kb_id=kb.id, source=f"doc-{d:05d}", content_hash=str(d),
                created_at=now, updated_at=now,
            )  # fmt: skip
            t0 = time.perf_counter()
            await store.put_document(doc, chunks)
            write_s += time.perf_counter() - t0
        views = Views(store)
        t0 = time.perf_counter()
        view = await views.get(kb.id)
        load_s = time.perf_counter() - t0
        ivf_s = None
        if view.index is not None and view.index.building:
            while view.index.building:
                await asyncio.sleep(0.05)
            ivf_s = time.perf_counter() - t0 - load_s
        grant = Grant(None, frozenset(), "all")
        latencies: dict[str, list[float]] = {"hybrid": [], "bm25": [], "vector": []}
        rng = np.random.default_rng(2)
        recall_hits = recall_total = 0
        for text, vector in samples:
            # A keyword query: the chunk's two rarest words and one of its words at random (often a
            # common one: the full-text search must not slow down for it).
            words = sorted(set(text.split()), key=lambda w: int(w[1:]))
            query = " ".join([*words[-2:], words[int(rng.integers(0, len(words)))]])
            q = vector + 0.05 * rng.standard_normal(DIM).astype(np.float32)
            q = (q / np.linalg.norm(q)).astype(np.float32)
            for mode in ("hybrid", "bm25", "vector"):
                t0 = time.perf_counter()
                fresh = await views.get(kb.id)
                await search(
                    store,
                    kb,
                    fresh,
                    query,
                    q,
                    SearchSettings(k=5, mode=mode, candidates=50),
                    fresh.allowed(grant, None, ""),
                )
                latencies[mode].append((time.perf_counter() - t0) * 1000)
            if view.index is not None and view.index.ivf is not None:
                approx = {cid for cid, _ in view.index.search(q, 10)}
                ivf, view.index.ivf = view.index.ivf, None
                exact = {cid for cid, _ in view.index.search(q, 10)}
                view.index.ivf = ivf
                recall_hits += len(approx & exact)
                recall_total += 10
        await views.close()
        return {
            "chunks": size,
            "ingest_chunks_per_s": round(size / write_s),
            "index_load_s": round(load_s, 2),
            "ivf_build_s": round(ivf_s, 1) if ivf_s is not None else None,
            "ivf_recall@10": round(recall_hits / recall_total, 3) if recall_total else None,
            "native_vectors": store.native_vectors,
            **{
                f"{mode}_ms": {"p50": round(percentile(v, 50), 2), "p99": round(percentile(v, 99), 2)}
                for mode, v in latencies.items()
            },
        }
    finally:
        await store.delete_kb(kb.id)
        await storage.close()


async def embedding_speed() -> dict[str, Any]:
    from podium.knowledge.embedding.minilm import minilm

    model = minilm()
    await model.embed(["warm up"])
    corpus = Corpus(3)
    texts = [corpus.chunk()[0].replace("w", "word ") for _ in range(256)]
    t0 = time.perf_counter()
    await model.embed(texts)
    batch_s = time.perf_counter() - t0
    timings = []
    for i in range(50):
        t0 = time.perf_counter()
        await model.embed([f"how many weeks of parental leave do parents get {i}"])
        timings.append((time.perf_counter() - t0) * 1000)
    return {
        "chunks_per_s": round(256 / batch_s, 1),
        "query_ms": {"p50": round(percentile(timings, 50), 2), "p99": round(percentile(timings, 99), 2)},
    }


async def step_cost(calls: int = 200_000) -> dict[str, float]:
    """What the RAG step costs a chat call that does not ask for RAG (the path every call takes)."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from podium.canonical import ChatRequest, Message
    from podium.config.model import Config
    from podium.gateway.call import Call
    from podium.knowledge.rag_step import rag_steps
    from podium.storage.records import KeyRecord

    class _Gateway:
        config = Config()

    [step] = rag_steps(_Gateway(), "chat")  # type: ignore[arg-type]  # the step reads only .config here
    key = KeyRecord(id="k", name="k", hash="", prefix="", created_at=0.0)
    chat = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    call = Call(id="x", api="chat", headers=CIMultiDictProxy(CIMultiDict()), principal=key, chat=chat)

    async def done(c: Call) -> None:
        return None

    timings = {}
    for name, run in (("bare", done), ("with_step", lambda c: step(c, done))):
        for _ in range(1000):
            await run(call)
        t0 = time.perf_counter()
        for _ in range(calls):
            await run(call)
        timings[name] = (time.perf_counter() - t0) / calls * 1e6
    return {"rag_step_off_us": round(timings["with_step"] - timings["bare"], 3)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"}
    results["step"] = await step_cost()
    print(json.dumps(results["step"]), flush=True)
    if args.quality or not args.scale_only:
        results["quality"] = await quality()
        print(quality_table(results["quality"]), flush=True)
    if args.embed or not args.quality:
        results["embedding"] = await embedding_speed()
        print(json.dumps(results["embedding"]), flush=True)
    if args.quality:
        return results
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    found = await scale(f"sqlite:///{tmp}/scale.db", size)
            elif backend == "postgres":
                url = os.environ.get("PODIUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
                found = await scale(f"{url}?schema=bench_{os.urandom(4).hex()}", size)
            else:
                found = await scale(_pgvector_url(), size)
            results[f"{backend}-{size}"] = found
            print(backend, json.dumps(found), flush=True)
    return results


def _pgvector_url() -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    directory = tempfile.mkdtemp(prefix="podium-bench-pgvector-")
    server = pgserver.get_server(directory, cleanup_mode="delete")
    return f"{server.get_uri()}&schema=bench_{os.urandom(4).hex()}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", action="store_true", help="only the labelled-corpus comparison")
    parser.add_argument("--scale-only", action="store_true", help="skip the labelled-corpus comparison")
    parser.add_argument("--embed", action="store_true", help="also measure the local embedding model")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgres,pgvector")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument(
        "--export-newsgroups",
        metavar="DIR",
        help="write the newsgroup corpus (DIR/docs) and its queries (DIR/queries.jsonl) for podium kb eval, and stop",
    )
    ns = parser.parse_args()
    if ns.export_newsgroups:
        export_newsgroups(Path(ns.export_newsgroups))
        sys.exit(0)
    found = asyncio.run(main(ns))
    if ns.out:
        Path(ns.out).write_text(json.dumps(found, indent=1), encoding="utf-8")
