"""Bad documents and bad requests: each a clear per-document or per-request error, and nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient
from tests.knowledge.files import encrypt_pdf, make_pdf


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    """A server that ingests documents of at most 64 KiB, embedding with a model the gateway serves."""
    config = make_config(
        {
            "knowledge": {"max_document_bytes": 64 * 1024, "embedding_model": "kb-embed"},
            "routes": {"kb-embed": {"deployments": ["sim/embed"]}},
        }
    )
    gateway = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def api(gw: GatewayThread) -> KbClient:
    c = KbClient(gw.url, gw.admin_key)
    assert c.create("kb").status == 201
    return c


PDF = make_pdf(["Quarterly report\n\nRevenue grew by twelve percent."])
BAD_FILES = [
    ("corrupt.pdf", PDF[: len(PDF) // 3], "corrupt_document", 422),
    ("locked.pdf", encrypt_pdf(PDF, "s3cret"), "password_protected", 422),
    ("empty.txt", b"", "empty_document", 422),
    ("blank.md", b"   \n\n  \n", "empty_document", 422),
    ("noise.txt", bytes(range(128, 256)) * 8 + b"\x00\x01\x02" * 40, "unknown_encoding", 422),
    ("binary.txt", b"\x00\x01\x02\x03ok\x04\x05\x06" * 200, "unsupported_format", 415),
    ("scanned.pdf", make_pdf([""]), "empty_document", 422),
    ("broken.docx", b"PK\x03\x04word/" + b"\0" * 100, "corrupt_document", 422),
    ("records.jsonl", b'{"text": "fine"}\n{not json\n', "invalid_document", 422),
    ("archive.zip", b"PK\x03\x04" + b"\0" * 100, "unsupported_format", 415),
]


@pytest.mark.parametrize(("name", "data", "code", "status"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_one_bad_file_is_refused_with_its_reason(
    gw: GatewayThread, name: str, data: bytes, code: str, status: int
) -> None:
    """An upload of one unreadable file is answered with its error code and status, and stores nothing."""
    c = api(gw)
    answer = c.upload("kb", [(name, data)])
    assert (answer.status, answer.code) == (status, code), answer.body
    assert name in answer.json()["error"]["message"] or code in ("unsupported_format",)
    assert c.get("/v1/knowledge-bases/kb/documents").json()["data"] == []


def test_a_batch_reports_each_bad_file_and_keeps_the_good_ones(gw: GatewayThread) -> None:
    """In a batch, every bad file is listed with its code; the good ones are ingested."""
    c = api(gw)
    files = [(name, data) for name, data, _, _ in BAD_FILES] + [
        ("good.pdf", PDF),
        ("notes.txt", b"Plain notes."),
    ]
    answer = c.upload("kb", files)
    assert answer.status == 201, answer.body
    result = answer.json()
    assert (result["added"], result["failed"]) == (2, len(BAD_FILES))
    assert {e["source"]: e["code"] for e in result["errors"]} == {
        name: code for name, _, code, _ in BAD_FILES
    }
    assert {d["source"] for d in c.get("/v1/knowledge-bases/kb/documents").json()["data"]} == {
        "good.pdf",
        "notes.txt",
    }


def test_a_file_over_the_limit_is_refused_without_being_held(gw: GatewayThread) -> None:
    """A file larger than knowledge.max_document_bytes gets 413 document_too_large, whatever its content."""
    c = api(gw)
    answer = c.upload("kb", [("big.txt", b"word " * 40_000)])
    assert (answer.status, answer.code) == (413, "document_too_large")
    assert "200000 bytes" in answer.json()["error"]["message"]


def test_the_cli_refuses_a_200_mb_file_by_its_size(tmp_path: Path) -> None:
    """`podium kb ingest` reports a 200 MB file as too large (never reading it) and ingests the rest."""
    docs = tmp_path / "docs"
    docs.mkdir()
    with (docs / "huge.txt").open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: 200 MB on paper, nothing on disk
    (docs / "small.md").write_text("# Small\n\nA small document about lighthouses.", encoding="utf-8")
    config = tmp_path / "podium.yaml"
    config.write_text(
        "providers: {sim: {type: simulated}}\n"
        "deployments: {'sim/*': {provider: sim, model: '*', capabilities: [chat, embeddings]}}\n"
        "knowledge: {embedding_model: sim/embed}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            *(sys.executable, "-m", "podium", "kb", "ingest", str(docs), "--kb", "k", "--create"),
            *("--config", str(config), "--data-dir", str(tmp_path / "data")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1  # something failed
    assert "1 added, 0 replaced, 0 unchanged, 1 failed" in done.stdout
    assert "huge.txt: document_too_large: huge.txt is 209715200 bytes" in done.stderr


def test_a_failing_embedding_model_leaves_the_knowledge_base_as_it_was(gw: GatewayThread) -> None:
    """When embedding fails half-way, each document reports it and the stored versions stay untouched."""
    c = api(gw)
    assert c.add("kb", {"source": "a.txt", "text": "Version one of the alpha document."}).status == 201
    before = c.get("/v1/knowledge-bases/kb").json()
    failing = make_config(
        {
            "knowledge": {"max_document_bytes": 64 * 1024, "embedding_model": "kb-embed"},
            "routes": {"kb-embed": {"deployments": ["sim/embed?status=503"]}},
        }
    )
    gw.reload(failing)
    answer = c.add(
        "kb",
        {"source": "a.txt", "text": "Version two of the alpha document."},
        {"source": "b.txt", "text": "The beta document."},
    )
    assert answer.status == 200
    result = answer.json()
    assert result["failed"] == 2 and {e["code"] for e in result["errors"]} == {"embedding_failed"}
    after = c.get("/v1/knowledge-bases/kb").json()
    assert (after["updated_at"], after["document_count"], after["chunk_count"]) == (
        before["updated_at"],
        before["document_count"],
        before["chunk_count"],
    )
    found = c.query("kb", "alpha document", mode="bm25").json()["data"]
    assert [p["text"] for p in found] == ["Version one of the alpha document."]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "x", "filter": {"year": {"$around": 2020}}}, "filter.year.$around"),
        ({"query": "x", "filter": {"$or": []}}, "filter.$or"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "   "}, "query"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(
    gw: GatewayThread, body: dict[str, object], param: str
) -> None:
    """A malformed filter, k or empty query is refused with the path of what is wrong."""
    c = api(gw)
    answer = c.post("/v1/knowledge-bases/kb/query", body)
    assert answer.status == 400 and answer.json()["error"]["param"] == param, answer.body


def test_bad_knowledge_base_definitions_are_refused(gw: GatewayThread) -> None:
    """A bad name, chunking, access filter or unknown embedding model is a 400; a duplicate name a 409."""
    c = KbClient(gw.url, gw.admin_key)
    assert c.create("bad name!").json()["error"]["param"] == "name"
    assert c.create("k", chunk_tokens=10).json()["error"]["param"] == "chunk_tokens"
    assert (
        c.create("k", access=[{"teams": ["x"], "filter": {"$bad": 1}}]).json()["error"]["param"]
        == "access[0].filter.$bad"
    )
    assert c.create("k", embedding_model="local:nonesuch").json()["error"]["param"] == "embedding_model"
    assert c.create("k", embedding_model="no-such-model").status == 404
    assert c.create("k").status == 201
    assert (c.create("k").status, c.create("k").code) == (409, "conflict")
