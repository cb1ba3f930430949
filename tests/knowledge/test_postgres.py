"""Knowledge bases on PostgreSQL: plain (vectors searched in Podium) and with pgvector (HNSW in the database),
through the same API, RAG step and access rules as on SQLite; two replicas see each other's writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from tests import pgvector_server
from tests.harness import GatewayThread, make_config
from tests.knowledge.client import KbClient
from tests.pg import fresh_schema

pytestmark = pytest.mark.postgres

DOCS = [
    {
        "source": "mars.txt",
        "text": "Mars has two small moons, Phobos and Deimos.",
        "metadata": {"planet": "mars"},
    },
    {
        "source": "jupiter.txt",
        "text": "Jupiter has ninety-five known moons; Ganymede is the largest.",
        "metadata": {"planet": "jupiter"},
    },
    {
        "source": "venus.txt",
        "text": "Venus has no moons and a very thick atmosphere.",
        "metadata": {"planet": "venus"},
    },
    {"source": "secret.txt", "text": "The moon base plans are confidential.", "allow": ["team:space"]},
]


@pytest.fixture(params=["postgres", "pgvector"])
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[GatewayThread, GatewayThread, str]]:
    """Two gateways (replicas) on one fresh PostgreSQL schema, with or without pgvector."""
    schema = fresh_schema() if request.param == "postgres" else pgvector_server.fresh_schema()
    # One loop for enter and exit: asyncio.run() would finalize the generator (drop the schema) at once.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        url = runner.run(schema.__aenter__())
        config = make_config({"knowledge": {"embedding_model": "local:minilm", "min_score": 0.2}})
        started: list[GatewayThread] = []
        try:
            started.extend(GatewayThread(config, url).start() for _ in range(2))
            yield started[0], started[1], request.param
        finally:
            for gw in started:
                gw.stop()
            runner.run(schema.__aexit__(None, None, None))


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_hybrid_search_rag_and_access_on_postgres(servers: tuple[GatewayThread, GatewayThread, str]) -> None:
    """Ingest on one replica; the other answers hybrid queries, filters, allow lists and RAG with citations
    (with pgvector, the database's HNSW index finds the vectors)."""
    a, b, kind = servers
    on_a = KbClient(a.url, a.admin_key)
    assert on_a.create("planets").status == 201
    assert on_a.add("planets", *DOCS).json()["added"] == 4
    on_b = KbClient(b.url, b.admin_key)
    found = eventually(
        lambda: on_b.query("planets", "Which planet has the moon Ganymede?", k=2).json()["data"]
    )
    assert found[0]["source"] == "jupiter.txt" and found[0]["bm25_rank"] == 1 and found[0]["vector_rank"] == 1
    only_mars = on_b.query("planets", "moons", filter={"planet": "mars"}).json()["data"]
    assert {p["source"] for p in only_mars} == {"mars.txt"}
    outsider = KbClient(b.url, b.new_key(name="outsider", team="ground"))
    assert "secret.txt" not in {
        p["source"] for p in outsider.query("planets", "moon base plans", k=10).json()["data"]
    }
    insider = KbClient(b.url, b.new_key(name="insider", team="space"))
    assert insider.query("planets", "moon base plans", k=1).json()["data"][0]["source"] == "secret.txt"
    with OpenAI(base_url=b.url + "/v1", api_key=b.key, max_retries=0) as sdk:
        reply = sdk.chat.completions.create(
            model="sim/echo",
            messages=[{"role": "user", "content": "Which planet has a thick atmosphere?"}],
            extra_body={"podium": {"rag": {"knowledge_bases": ["planets"], "k": 1}}},
        )
    assert "Venus has no moons" in reply.choices[0].message.content
    assert reply.model_extra["podium"]["citations"][0]["source"] == "venus.txt"
    assert b.storage.knowledge.native_vectors is (kind == "pgvector")


def test_a_deletion_on_one_replica_is_seen_by_the_other(
    servers: tuple[GatewayThread, GatewayThread, str],
) -> None:
    """A document deleted through one replica disappears from the other's results within a second."""
    a, b, _ = servers
    on_a, on_b = KbClient(a.url, a.admin_key), KbClient(b.url, b.admin_key)
    on_a.create("planets")
    added = on_a.add("planets", *DOCS[:2]).json()
    assert {p["source"] for p in on_b.query("planets", "moons", k=5).json()["data"]} == {
        "mars.txt",
        "jupiter.txt",
    }
    mars = next(d["id"] for d in added["documents"] if d["source"] == "mars.txt")
    assert on_a.delete(f"/v1/knowledge-bases/planets/documents/{mars}").status == 200
    gone = eventually(
        lambda: {p["source"] for p in on_b.query("planets", "moons", k=5).json()["data"]} == {"jupiter.txt"}
    )
    assert gone
