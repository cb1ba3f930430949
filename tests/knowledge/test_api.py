"""The knowledge-base API: permissions, background ingestion with status, deletion, and model changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.storage.knowledge_records import IngestionRecord
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    """A server whose new knowledge bases embed with sim/embed; batches over 3 documents go to the background."""
    config = make_config({"knowledge": {"embedding_model": "sim/embed", "background_documents": 3}})
    gateway = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def wait_done(c: KbClient, kb: str, ingestion: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = c.get(f"/v1/knowledge-bases/{kb}/ingestions/{ingestion}").json()
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            return state  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_only_writers_manage_and_readers_query(gw: GatewayThread) -> None:
    """An application key may query but not create or change; a developer key may do both."""
    app = KbClient(gw.url, gw.key)
    dev = KbClient(gw.url, gw.new_key(name="dev", roles=("developer",)))
    assert (app.create("kb").status, app.create("kb").code) == (403, "permission_denied")
    assert dev.create("kb").status == 201
    assert dev.add("kb", {"source": "a.txt", "text": "Alpha centauri is a star system."}).status == 201
    assert app.add("kb", {"source": "b.txt", "text": "x"}).code == "permission_denied"
    assert app.query("kb", "star system").json()["data"][0]["source"] == "a.txt"
    assert app.delete("/v1/knowledge-bases/kb").status == 403
    no_kb = KbClient(gw.url, gw.new_key(name="auditor", roles=("reviewer",)))
    assert no_kb.query("kb", "star").code == "permission_denied"


def test_a_large_batch_runs_in_the_background_with_visible_status(gw: GatewayThread) -> None:
    """More documents than knowledge.background_documents: 202 at once, then the ingestion's progress to poll."""
    c = KbClient(gw.url, gw.admin_key)
    c.create("kb")
    docs = [
        {"source": f"note-{i}.txt", "text": f"Note number {i} is about topic {i % 3}."} for i in range(12)
    ]
    docs.append({"source": "broken.pdf", "content_base64": "JVBERi0xLjQKZ2FyYmFnZQ=="})
    started = c.add("kb", *docs)
    assert started.status == 202
    ingestion = started.json()
    assert ingestion["status"] in ("queued", "running") and ingestion["total"] == 13
    state = wait_done(c, "kb", ingestion["id"])
    assert state["status"] == "done"
    assert (state["processed"], state["added"], state["failed"]) == (13, 12, 1)
    assert state["errors"] == [
        {"source": "broken.pdf", "code": "corrupt_document", "message": state["errors"][0]["message"]}
    ]
    listed = c.get("/v1/knowledge-bases/kb/ingestions").json()["data"]
    assert [i["id"] for i in listed] == [ingestion["id"]]
    assert c.get("/v1/knowledge-bases/kb").json()["document_count"] == 12
    assert c.get("/v1/knowledge-bases/kb/ingestions/ing_nope").code == "ingestion_not_found"


def test_a_small_batch_can_be_sent_to_the_background(gw: GatewayThread) -> None:
    """`background: true` sends even one document to the background."""
    c = KbClient(gw.url, gw.admin_key)
    c.create("kb")
    started = c.add("kb", {"source": "a.txt", "text": "Alpha."}, background=True)
    assert started.status == 202
    assert wait_done(c, "kb", started.json()["id"])["added"] == 1


def test_an_ingestion_whose_server_stopped_reads_as_interrupted(gw: GatewayThread) -> None:
    """A running ingestion not heard of for a minute is reported failed: interrupted."""
    c = KbClient(gw.url, gw.admin_key)
    kb = c.create("kb").json()
    old = time.time() - 3600
    stuck = IngestionRecord(
        id="ing_stuck", kb_id=kb["id"], tenant="default", status="running", total=5, processed=2,
        created_at=old, updated_at=old, created_by="key:x",
    )  # fmt: skip
    gw.run(lambda: gw.storage.knowledge.put_ingestion(stuck))
    state = c.get("/v1/knowledge-bases/kb/ingestions/ing_stuck").json()
    assert state["status"] == "failed" and state["errors"][-1]["code"] == "interrupted"


def test_deleting_a_document_removes_it_from_search(gw: GatewayThread) -> None:
    """A deleted document's chunks are gone from queries at once; deleting it twice is a 404."""
    c = KbClient(gw.url, gw.admin_key)
    c.create("kb")
    added = c.add(
        "kb",
        {"source": "a.txt", "text": "Zebras are striped."},
        {"source": "b.txt", "text": "Zebras run fast."},
    )
    doc = next(d["id"] for d in added.json()["documents"] if d["source"] == "a.txt")
    assert len(c.query("kb", "zebras", mode="bm25").json()["data"]) == 2
    assert c.delete(f"/v1/knowledge-bases/kb/documents/{doc}").status == 200
    assert [p["source"] for p in c.query("kb", "zebras", mode="bm25").json()["data"]] == ["b.txt"]
    assert c.delete(f"/v1/knowledge-bases/kb/documents/{doc}").code == "document_not_found"
    assert c.delete("/v1/knowledge-bases/kb").status == 200
    assert c.query("kb", "zebras").code == "knowledge_base_not_found"


def test_changing_the_embedding_model_re_embeds_every_chunk(gw: GatewayThread) -> None:
    """A new model (and dimension) re-embeds in the background; the base then records and uses them."""
    c = KbClient(gw.url, gw.admin_key)
    c.create("kb")
    c.add("kb", {"source": "a.txt", "text": "Penguins live in the southern hemisphere."})
    assert c.get("/v1/knowledge-bases/kb").json()["dimension"] == 256
    changed = c.patch(
        "/v1/knowledge-bases/kb", {"embedding_model": "sim/embed?dims=64", "description": "birds"}
    )
    assert changed.status == 202 and changed.json()["description"] == "birds"
    assert wait_done(c, "kb", changed.json()["ingestion"]["id"])["status"] == "done"
    kb = c.get("/v1/knowledge-bases/kb").json()
    assert (kb["embedding_model"], kb["dimension"]) == ("sim/embed?dims=64", 64)
    found = c.query("kb", "penguins southern hemisphere", mode="vector").json()["data"]
    assert found[0]["source"] == "a.txt" and found[0]["similarity"] > 0.5
    c.add("kb", {"source": "b.txt", "text": "Puffins live in the north."})  # new documents use the new model
    assert c.get("/v1/knowledge-bases/kb").json()["document_count"] == 2


def test_uploads_and_json_documents_carry_metadata_and_allow_lists(gw: GatewayThread) -> None:
    """Multipart fields set metadata and allow lists for the uploaded files; filters select by them."""
    c = KbClient(gw.url, gw.admin_key)
    c.create("kb")
    uploaded = c.upload(
        "kb",
        [("guide.md", b"# Guide\n\nRotate the API keys yearly.")],
        {"metadata": '{"year": 2024, "team": "platform"}', "allow": "team:platform, role:owner"},
    )
    assert uploaded.status == 201, uploaded.body
    [doc] = c.get("/v1/knowledge-bases/kb/documents").json()["data"]
    assert doc["metadata"] == {"year": 2024, "team": "platform"} and doc["allow"] == [
        "team:platform",
        "role:owner",
    ]
    assert len(c.query("kb", "API keys", filter={"year": {"$gte": 2024}}).json()["data"]) == 1
    assert c.query("kb", "API keys", filter={"year": {"$lt": 2024}}).json()["data"] == []
