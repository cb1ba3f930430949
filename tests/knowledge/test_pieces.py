"""The parts retrieval is built from: parsing, chunking, filters, fusion, the vector index, the metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from podium.errors import RequestError
from podium.knowledge.chunking import chunk_document, count_tokens
from podium.knowledge.evaluation import Scores, held_out, load_queries, ndcg, recall, reciprocal_rank
from podium.knowledge.filters import compile_filter
from podium.knowledge.parsing import parse
from podium.knowledge.rag_step import _extension
from podium.knowledge.retrieval import fuse, mmr, query_terms
from podium.knowledge.vectors import VectorIndex, build_ivf
from podium.storage.knowledge_records import ChunkHit, DocumentRecord
from tests.knowledge.files import make_docx


def test_text_in_legacy_encodings_is_decoded() -> None:
    """Text that is not UTF-8 (Windows-1252, UTF-16 with a BOM) is read in its own encoding."""
    latin = ("Die Größe der Büros wird jährlich geprüft; Änderungen übernimmt die Verwaltung. " * 6).encode(
        "cp1252"
    )
    [doc] = parse(latin, name="büro.txt")
    assert "Größe der Büros" in doc.text()
    [utf16] = parse("Ünïcödé text in UTF-16.".encode("utf-16"), name="u.txt")
    assert utf16.text() == "Ünïcödé text in UTF-16."


def test_markdown_html_and_docx_keep_their_structure() -> None:
    """Headings become the heading path of the chunks under them; scripts and navigation are dropped."""
    md = b"# Guide\n\nIntro.\n\n## Install\n\nRun the installer.\n\n```sh\nmake install\n```\n\nSetext\n------\n\nUnder setext."
    chunks = chunk_document(parse(md, name="g.md")[0], max_tokens=200)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide > Install", "Run the installer.\n\n```sh\nmake install\n```"),
        ("Guide > Setext", "Under setext."),
    ]
    html = b"<html><title>T</title><nav>menu</nav><h1>Top</h1><p>One <b>two</b></p><script>x()</script><table><tr><td>a</td><td>b</td></tr></table></html>"
    [doc] = parse(html, name="p.html")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Top"),
        ("paragraph", "One two"),
        ("table", "a | b"),
    ]
    [docx] = parse(make_docx("Handbook", [("Leave", "Ten days.")]), name="h.docx")
    assert [b.kind for b in docx.blocks][:3] == [
        "heading",
        "heading",
        "paragraph",
    ] and docx.title == "Handbook"


def test_long_paragraphs_split_by_sentence_with_overlap() -> None:
    """A paragraph over the budget is cut at sentence ends; each chunk repeats the previous one's tail."""
    text = " ".join(f"Sentence number {i} says something about topic {i}." for i in range(60))
    chunks = chunk_document(parse(text.encode(), name="long.txt")[0], max_tokens=50, overlap=10)
    assert len(chunks) > 5 and all(c.tokens <= 50 + 10 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        tail = before.text.split()[-3:]
        assert " ".join(tail) in after.text  # the overlap
    assert count_tokens("Hello, world!") == 4


def doc(**metadata: object) -> DocumentRecord:
    return DocumentRecord(
        id="doc_1",
        kb_id="kb",
        source="contracts/acme.md",
        content_hash="",
        metadata=metadata,
        created_at=0,
        updated_at=0,
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"dept": "legal"}, True),
        ({"dept": "sales"}, False),
        ({"tags": "nda"}, True),  # list membership
        ({"year": {"$gte": 2020, "$lt": 2025}}, True),
        ({"year": {"$gt": "2020"}}, False),  # no comparing numbers with strings
        ({"year": {"$in": [2019, 2023]}}, True),
        ({"year": {"$nin": [2023]}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"public": 1}, False),  # true is not 1
        ({"source": {"$prefix": "contracts/"}}, True),
        ({"$or": [{"dept": "hr"}, {"public": True}]}, True),
        ({"$not": {"dept": "legal"}}, False),
        ({"$and": [{"dept": "legal"}, {"year": {"$ne": 2023}}]}, False),
    ],
)
def test_filters_match_document_metadata(spec: dict[str, object], expected: bool) -> None:
    """Each filter operator matches the document's metadata (and its own fields) as documented."""
    assert compile_filter(spec)(doc(dept="legal", tags=["nda", "vendor"], year=2023, public=True)) is expected


def test_a_malformed_filter_names_its_path() -> None:
    """A bad operator or operand is refused with the path to it."""
    with pytest.raises(RequestError) as bad:
        compile_filter({"$or": [{"a": 1}, {"b": {"$in": 3}}]})
    assert bad.value.param == "filter.$or[1].b.$in"


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    """A chunk both rankings place well beats one only a single ranking places first; weights tilt it."""
    bm25 = [ChunkHit(id=1, score=9), ChunkHit(id=2, score=5)]
    vectors = [ChunkHit(id=3, score=0.9), ChunkHit(id=2, score=0.8)]
    scores = fuse([(bm25, 1.0), (vectors, 1.0)])
    assert max(scores, key=scores.__getitem__) == 2
    tilted = fuse([(bm25, 1.0), (vectors, 0.0)])
    assert max(tilted, key=tilted.__getitem__) == 1
    # k sets how much a first place counts against agreement further down
    top_once = [ChunkHit(id=7, score=9), *(ChunkHit(id=i, score=1) for i in (20, 21, 8))]
    both_fourth = [*(ChunkHit(id=i, score=0.9) for i in (30, 31, 32)), ChunkHit(id=8, score=0.5)]
    sharp = fuse([(top_once, 1.0), (both_fourth, 1.0)], k=1)
    flat = fuse([(top_once, 1.0), (both_fourth, 1.0)], k=60)
    assert sharp[7] > sharp[8] and flat[8] > flat[7]
    assert query_terms("What is the notice period of the Acme contract?") == [
        "notice",
        "period",
        "acme",
        "contract",
    ]
    assert query_terms("the who") == ["the", "who"]


def test_mmr_prefers_a_novel_passage_over_a_near_duplicate() -> None:
    """Maximal marginal relevance skips a near copy of what it already chose."""
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    rows = np.array([[0.95, 0.3, 0.0], [0.95, 0.3, 0.001], [0.92, 0.0, 0.39]], dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert mmr(q, rows, 2) == [0, 2]


def test_the_ivf_lists_find_what_exact_search_finds() -> None:
    """Past 20,000 vectors the IVF lists give nearly the exact top 10, and honour deletions and filters."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((40, 32)).astype(np.float32)
    rows = (centers[rng.integers(0, 40, 24_000)] + 0.3 * rng.standard_normal((24_000, 32))).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index = VectorIndex(32)
    index.add(np.arange(24_000, dtype=np.int64), (np.arange(24_000) // 10).astype(np.int32), rows)
    queries = rows[rng.integers(0, 24_000, 30)] + 0.05
    exact = [[cid for cid, _ in index.search(q / np.linalg.norm(q), 10)] for q in queries]
    assert index.wants_ivf()
    index.install(build_ivf(index.snapshot()[1]))
    approx = [[cid for cid, _ in index.search(q / np.linalg.norm(q), 10)] for q in queries]
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact, strict=True))
    assert hits / 300 >= 0.9
    first = exact[0][0]
    index.remove_docs(np.array([first // 10], dtype=np.int32))
    assert first not in [cid for cid, _ in index.search(queries[0] / np.linalg.norm(queries[0]), 10)]
    allowed = np.zeros(2400, dtype=bool)
    allowed[5] = True
    assert {cid // 10 for cid, _ in index.search(queries[1], 10, allowed)} == {5}


def test_retrieval_metrics_follow_their_definitions() -> None:
    """recall@k, reciprocal rank and nDCG@10 on a hand-checked ranking; query files are validated."""
    ranked = ["a", "x", "b", "y"]
    gains = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert recall(ranked, gains, 2) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "b"], gains) == 0.5
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg(ranked, gains) == pytest.approx((1 + 1 / np.log2(4)) / ideal)
    [q] = load_queries('{"query": "q", "relevant": {"a": 2, "b": 0}}')
    assert q.gains == {"a": 2.0}
    with pytest.raises(RequestError):
        load_queries('{"query": "q"}')


def test_the_rag_extension_is_taken_out_of_what_goes_upstream() -> None:
    """`podium.rag` is removed from the request's extra fields; other podium fields and extras stay."""
    settings, rest = _extension(
        {"podium": {"rag": {"knowledge_bases": ["kb"]}, "prompt": {"name": "p"}}, "seed2": 1}
    )
    assert settings is not None and settings.knowledge_bases == ("kb",)
    assert rest == {"podium": {"prompt": {"name": "p"}}, "seed2": 1}
    only, nothing = _extension({"podium": {"rag": {"knowledge_bases": ["kb"]}}})
    assert only is not None and nothing is None


def test_the_knowledge_section_is_checked_with_paths() -> None:
    """`podium check` names a RAG entry for an unknown model, a bad filter, and a template without {context}."""
    from podium.config import parse_config
    from podium.errors import ConfigError

    text = """
providers: {sim: {type: simulated}}
deployments: {'sim/*': {provider: sim, model: '*'}}
knowledge:
  template: "no placeholders here {question}"
  rag:
    nope: {knowledge_bases: [kb]}
    sim/echo: {knowledge_bases: [kb], filter: {year: {$near: 1}}}
    prompt:faq: {knowledge_bases: []}
"""
    with pytest.raises(ConfigError) as bad:
        parse_config(text, source="podium.yaml", environ={})
    paths = {p.path for p in bad.value.problems}
    assert paths == {
        "knowledge.template",
        "knowledge.rag.nope",
        "knowledge.rag.sim/echo.filter.year.$near",
        "knowledge.rag.prompt:faq.knowledge_bases",
    }


def test_held_out_tuning_never_scores_a_query_with_settings_chosen_on_it() -> None:
    """Each fold is scored with the settings best on the other folds: a setting good only on the
    queries it is scored on is never picked for them."""
    n = 10
    hit, miss = Scores(1.0, 1.0, 1.0), Scores(0.0, 0.0, 0.0)
    # setting i finds query i and nothing else; "steady" half-finds every query
    table: dict[object, list[Scores]] = {i: [hit if q == i else miss for q in range(n)] for i in range(n)}
    assert held_out(table, folds=5).scores.ndcg10 == 0.0  # in-sample it would score 1.0 per fold pick
    table["steady"] = [Scores(0.5, 0.5, 0.5)] * n
    tuned = held_out(table, folds=5)
    assert tuned.scores.ndcg10 == 0.5 and tuned.chosen == ["steady"] * 5
    with pytest.raises(ValueError):
        held_out({"a": [hit], "b": [hit, miss]})
