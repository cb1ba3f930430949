"""Grounded answers end to end: a folder ingested with the CLI, questions through the OpenAI SDK with RAG,
citations that point at the right chunks, access rules, tenants, and idempotent re-ingestion."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient
from tests.knowledge.files import mixed_folder

pytestmark = pytest.mark.slow


def podium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server whose 'handbook' knowledge base holds a folder of every format, ingested with the CLI."""
    tmp = tmp_path_factory.mktemp("rag")
    gw = GatewayThread(make_config({"knowledge": {"min_score": 0.3}}), sqlite_url(tmp)).start()
    try:
        docs = mixed_folder(tmp)
        first = podium(tmp, "kb", "ingest", str(docs), "--kb", "handbook", "--create")
        assert first.returncode == 0, first.stderr
        yield {"gw": gw, "tmp": tmp, "docs": docs, "first": first}
    finally:
        gw.stop()


_clients: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """The SDK clients a test made with :func:`client`, closed when it ends."""
    yield
    while _clients:
        _clients.pop().close()


def client(gw: GatewayThread, key: str | None = None) -> OpenAI:
    made = OpenAI(base_url=gw.url + "/v1", api_key=key or gw.key, max_retries=0)
    _clients.append(made)
    return made


def ask(c: OpenAI, question: str, **rag: Any) -> Any:
    return c.chat.completions.create(
        model="sim/echo",
        messages=[{"role": "user", "content": question}],
        extra_body={"podium": {"rag": {"knowledge_bases": ["handbook"], "k": 3, **rag}}},
    )


def test_the_cli_ingests_a_folder_of_every_format(world: dict[str, Any]) -> None:
    """`podium kb ingest` reads txt, md, html, pdf, docx, json and jsonl, skips other files, and reports progress."""
    first = world["first"]
    assert "8 added, 0 replaced, 0 unchanged, 0 failed" in first.stdout  # the JSONL file holds two documents
    assert "7/7 files" in first.stderr  # the progress bar, one line per file when not on a terminal
    docs = (
        KbClient(world["gw"].url, world["gw"].admin_key).get("/v1/knowledge-bases/handbook/documents").json()
    )
    sources = sorted(d["source"] for d in docs["data"])
    assert sources == [
        "benefits.pdf",
        "faq.jsonl#parking",
        "faq.jsonl#wifi",
        "glossary.json",
        "onboarding.html",
        "policies/security.txt",
        "policies/travel.md",
        "support.docx",
    ]
    travel = next(d for d in docs["data"] if d["source"] == "policies/travel.md")
    assert travel["metadata"] == {"owner": "finance"}  # front matter


@pytest.mark.parametrize(
    ("question", "source", "phrase"),
    [
        (
            "How much does the company reimburse for a hotel night?",
            "policies/travel.md",
            "180 euros per night",
        ),
        ("How many weeks of parental leave do parents get?", "benefits.pdf", "sixteen weeks"),
        ("Where do new employees pick up their badge?", "onboarding.html", "reception desk"),
        ("How quickly are critical tickets escalated?", "support.docx", "fifteen minutes"),
        ("What is the name of the office wifi network?", "faq.jsonl#wifi", "Podium-Guest"),
    ],
)
def test_an_answer_through_the_sdk_cites_the_chunk_that_holds_it(
    world: dict[str, Any], question: str, source: str, phrase: str
) -> None:
    """A chat call with podium.rag gets the right passage injected (sim/echo shows it) and cites its chunk."""
    gw: GatewayThread = world["gw"]
    reply = ask(client(gw), question)
    text = reply.choices[0].message.content
    assert phrase in text and f"Question: {question}" in text and "[1]" in text
    citations = reply.model_extra["podium"]["citations"]
    first = citations[0]
    assert first["source"] == source and first["index"] == 1 and first["knowledge_base"] == "handbook"
    chunk = KbClient(gw.url, gw.admin_key).query("handbook", question, k=1).json()["data"][0]
    assert chunk["id"] == first["chunk_id"] and phrase in chunk["text"]
    assert first["similarity"] >= 0.3 and first["score"] > 0


def test_a_streamed_answer_carries_its_citations_before_done(world: dict[str, Any]) -> None:
    """Streaming, the citations come in one last chunk without choices, after the answer's text."""
    stream = client(world["gw"]).chat.completions.create(
        model="sim/echo",
        stream=True,
        messages=[{"role": "user", "content": "How often are passwords rotated?"}],
        extra_body={"podium": {"rag": {"knowledge_bases": ["handbook"], "k": 2}}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "ninety days" in text
    last = chunks[-1]
    assert (
        last.choices == [] and last.model_extra["podium"]["citations"][0]["source"] == "policies/security.txt"
    )


def test_below_the_threshold_the_model_is_told_there_is_no_context(world: dict[str, Any]) -> None:
    """A question nothing in the base answers gets the no-context note instead of unrelated passages."""
    reply = ask(client(world["gw"]), "What is the boiling point of liquid nitrogen on Neptune?")
    text = reply.choices[0].message.content
    assert text.startswith("No relevant passages were found in the knowledge bases (handbook)")
    assert reply.model_extra["podium"]["citations"] == []
    assert reply.model_extra["podium"]["rag"] == {"knowledge_bases": ["handbook"], "relevant": False}


def test_re_ingesting_an_unchanged_folder_changes_nothing(world: dict[str, Any]) -> None:
    """A second ingest of the same files writes nothing: same documents, chunk ids and revision."""
    gw: GatewayThread = world["gw"]
    api = KbClient(gw.url, gw.admin_key)
    before = api.get("/v1/knowledge-bases/handbook").json()
    chunk_before = api.query("handbook", "hotel reimbursement", k=1).json()["data"][0]["id"]
    again = podium(world["tmp"], "kb", "ingest", str(world["docs"]), "--kb", "handbook")
    assert again.returncode == 0, again.stderr
    assert "0 added, 0 replaced, 8 unchanged, 0 failed; 0 chunks written" in again.stdout
    after = api.get("/v1/knowledge-bases/handbook").json()
    assert (after["updated_at"], after["chunk_count"]) == (before["updated_at"], before["chunk_count"])
    assert api.query("handbook", "hotel reimbursement", k=1).json()["data"][0]["id"] == chunk_before


def test_a_changed_document_replaces_its_chunks(world: dict[str, Any], tmp_path: Path) -> None:
    """Re-ingesting a changed file replaces its chunks at once; the old text is no longer found."""
    gw: GatewayThread = world["gw"]
    api = KbClient(gw.url, gw.admin_key)
    assert api.create("scratch").status == 201
    first = api.add(
        "scratch", {"source": "notes.md", "text": "# Notes\n\nThe meeting room is called Everest."}
    )
    assert first.status == 201 and first.json()["added"] == 1
    changed = api.add(
        "scratch", {"source": "notes.md", "text": "# Notes\n\nThe meeting room is called Kilimanjaro."}
    )
    assert changed.status == 200 and changed.json()["replaced"] == 1
    [doc] = api.get("/v1/knowledge-bases/scratch/documents").json()["data"]
    assert doc["id"] == first.json()["documents"][0]["id"]
    found = api.query("scratch", "meeting room name", mode="bm25").json()["data"]
    assert [p["text"] for p in found] == ["The meeting room is called Kilimanjaro."]


def test_a_key_outside_the_access_rules_gets_403(world: dict[str, Any]) -> None:
    """Access rules decide who reads: a team outside them gets 403 on RAG and on queries; one inside reads."""
    gw: GatewayThread = world["gw"]
    api = KbClient(gw.url, gw.admin_key)
    created = api.create("legal-only", access=[{"teams": ["legal"]}], embedding_model="sim/embed")
    assert created.status == 201, created.body
    assert api.add("legal-only", {"source": "nda.txt", "text": "The NDA term is five years."}).status == 201
    sales = gw.new_key(name="sales", team="sales")
    legal = gw.new_key(name="legal", team="legal")
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client(gw, sales).chat.completions.create(
            model="sim/echo",
            messages=[{"role": "user", "content": "How long is the NDA term?"}],
            extra_body={"podium": {"rag": {"knowledge_bases": ["legal-only"]}}},
        )
    assert denied.value.code == "knowledge_base_forbidden"
    assert KbClient(gw.url, sales).query("legal-only", "NDA term").code == "knowledge_base_forbidden"
    reply = client(gw, legal).chat.completions.create(
        model="sim/echo",
        messages=[{"role": "user", "content": "How long is the NDA term?"}],
        extra_body={"podium": {"rag": {"knowledge_bases": ["legal-only"], "min_score": 0.0}}},
    )
    assert "five years" in reply.choices[0].message.content
    listed = [kb["name"] for kb in KbClient(gw.url, sales).get("/v1/knowledge-bases").json()["data"]]
    assert "legal-only" not in listed and "handbook" in listed


def test_rule_filters_and_document_allow_lists_hide_documents(world: dict[str, Any]) -> None:
    """A rule's filter and a document's allow list keep documents out of a reader's passages and citations."""
    gw: GatewayThread = world["gw"]
    api = KbClient(gw.url, gw.admin_key)
    rules = [{"teams": ["hr"]}, {"teams": ["*"], "filter": {"public": True}}]
    assert api.create("policies", access=rules, embedding_model="sim/embed").status == 201
    api.add(
        "policies",
        {
            "source": "holidays.txt",
            "text": "Office holidays: the office closes on the first of May.",
            "metadata": {"public": True},
        },
        {
            "source": "salaries.txt",
            "text": "Office salaries: salary bands are reviewed every May.",
            "metadata": {"public": False},
        },
        {
            "source": "audit.txt",
            "text": "Office audit: the May audit covers salaries.",
            "allow": ["team:auditors"],
        },
    )
    everyone = gw.new_key(name="anyone", team="engineering")
    hr = gw.new_key(name="hr", team="hr")

    def sources(key: str) -> set[str]:
        found = KbClient(gw.url, key).query("policies", "office May", k=10, mode="bm25").json()["data"]
        return {p["source"] for p in found}

    assert sources(everyone) == {"holidays.txt"}
    assert sources(hr) == {"holidays.txt", "salaries.txt"}  # the audit is for team auditors only
    reply = client(gw, everyone).chat.completions.create(
        model="sim/echo",
        messages=[{"role": "user", "content": "office May"}],
        extra_body={
            "podium": {"rag": {"knowledge_bases": ["policies"], "mode": "bm25", "min_score": -1, "k": 5}}
        },
    )
    assert {c["source"] for c in reply.model_extra["podium"]["citations"]} == {"holidays.txt"}
    assert "salary" not in reply.choices[0].message.content


def test_another_tenants_chunks_never_appear(world: dict[str, Any]) -> None:
    """Knowledge bases are per tenant: the same name is another base, and another tenant's id is not found."""
    gw: GatewayThread = world["gw"]
    admin = KbClient(gw.url, gw.admin_key)
    handbook_id = admin.get("/v1/knowledge-bases/handbook").json()["id"]
    other_admin = gw.new_key(name="other-admin", tenant="globex", scopes=("admin", "inference"))
    other_app = gw.new_key(name="other-app", tenant="globex")
    theirs = KbClient(gw.url, other_admin)
    assert theirs.create("handbook", embedding_model="sim/embed").status == 201
    theirs.add(
        "handbook", {"source": "globex.txt", "text": "Globex reimburses hotels up to 90 dollars per night."}
    )
    reply = client(gw, other_app).chat.completions.create(
        model="sim/echo",
        messages=[{"role": "user", "content": "How much is reimbursed for a hotel night?"}],
        extra_body={"podium": {"rag": {"knowledge_bases": ["handbook"], "k": 5, "min_score": -1}}},
    )
    assert {c["source"] for c in reply.model_extra["podium"]["citations"]} == {"globex.txt"}
    assert "180 euros" not in reply.choices[0].message.content
    assert KbClient(gw.url, other_app).query(handbook_id, "hotel").code == "knowledge_base_not_found"
    with pytest.raises(openai.NotFoundError):
        client(gw, other_app).chat.completions.create(
            model="sim/echo",
            messages=[{"role": "user", "content": "hotel"}],
            extra_body={"podium": {"rag": {"knowledge_bases": [handbook_id]}}},
        )


def test_a_model_configured_for_rag_retrieves_without_asking(tmp_path: Path) -> None:
    """`knowledge.rag` grounds every call of a model name; the request itself says nothing about RAG."""
    config = make_config(
        {"knowledge": {"rag": {"sim/echo": {"knowledge_bases": ["faq"], "k": 1, "min_score": 0}}}}
    )
    gw = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        api = KbClient(gw.url, gw.admin_key)
        assert api.create("faq", embedding_model="sim/embed").status == 201
        api.add("faq", {"source": "hours.txt", "text": "The canteen opens at half past eleven."})
        reply = client(gw).chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": "When does the canteen open?"}]
        )
        assert "half past eleven" in reply.choices[0].message.content
        assert reply.model_extra["podium"]["citations"][0]["source"] == "hours.txt"
        plain = client(gw).chat.completions.create(
            model="sim/lorem", messages=[{"role": "user", "content": "When does the canteen open?"}]
        )
        assert "podium" not in (plain.model_extra or {})
        recorded = gw.wait_records(4)
        assert any(r.api == "embeddings" and r.requested_model == "sim/embed" for r in recorded)
    finally:
        gw.stop()


def test_a_bad_rag_request_is_a_400_naming_the_field(world: dict[str, Any]) -> None:
    """A malformed podium.rag (unknown field, bad filter) is refused with the field's path; unknown bases are 404."""
    c = client(world["gw"])
    with pytest.raises(openai.BadRequestError) as bad:
        ask(c, "hotel", kk=3)
    assert bad.value.param == "podium.rag"
    with pytest.raises(openai.BadRequestError) as bad_filter:
        ask(c, "hotel", filter={"year": {"$near": 3}})
    assert bad_filter.value.param == "podium.rag.filter.year.$near"
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(
            model="sim/echo",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"podium": {"rag": {"knowledge_bases": ["nope"]}}},
        )


def test_a_prompt_configured_for_rag_grounds_its_calls(tmp_path: Path) -> None:
    """`knowledge.rag["prompt:NAME"]` grounds every call that uses that registry prompt, on its rendered question."""
    config = make_config(
        {"knowledge": {"rag": {"prompt:faq-bot": {"knowledge_bases": ["faq"], "k": 1, "min_score": 0}}}}
    )
    gw = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        api = KbClient(gw.url, gw.admin_key)
        assert api.create("faq", embedding_model="sim/embed").status == 201
        api.add("faq", {"source": "hours.txt", "text": "The library opens at eight in the morning."})
        prompt = {
            "name": "faq-bot",
            "messages": [{"role": "user", "content": "{{ question }}"}],
            "variables": {"question": {"type": "string"}},
            "config": {"model": "sim/echo"},
        }
        assert api.post("/admin/prompts", prompt).status == 201
        labelled = call(
            gw.url, "PUT", "/admin/prompts/faq-bot/labels/production", gw.admin_key, {"version": 1}
        )
        assert labelled.status == 200, labelled.body
        reply = client(gw).chat.completions.create(
            model="prompt:faq-bot",
            messages=[],
            extra_body={"podium": {"prompt": {"variables": {"question": "When does the library open?"}}}},
        )
        assert "eight in the morning" in reply.choices[0].message.content
        assert reply.model_extra["podium"]["citations"][0]["source"] == "hours.txt"
    finally:
        gw.stop()
