"""`podium kb`: create, list, query, evaluate and delete from the shell, on the configured storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFIG = """\
providers: {sim: {type: simulated}}
deployments: {'sim/*': {provider: sim, model: '*', capabilities: [chat, embeddings]}}
knowledge: {embedding_model: sim/embed}
"""


def podium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "podium",
            *args,
            "--config",
            str(tmp_path / "podium.yaml"),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_the_kb_commands_manage_query_and_evaluate(tmp_path: Path) -> None:
    """Create with access rules, ingest, list, query as a team, evaluate a labelled query set, delete."""
    (tmp_path / "podium.yaml").write_text(CONFIG, encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text(
        "# Tea\n\nGreen tea is steeped at eighty degrees for two minutes.", encoding="utf-8"
    )
    (docs / "coffee.md").write_text(
        "# Coffee\n\nEspresso is brewed at nine bars of pressure.", encoding="utf-8"
    )
    (docs / "bread.txt").write_text(
        "Sourdough bread needs a starter fed with flour and water.", encoding="utf-8"
    )
    created = podium(tmp_path, "kb", "create", "kitchen", "--access", '[{"teams": ["cooks"]}]', "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["embedding_model"] == "sim/embed"
    ingested = podium(tmp_path, "kb", "ingest", str(docs), "--kb", "kitchen", "--metadata", "shelf=top")
    assert ingested.returncode == 0 and "3 added" in ingested.stdout, ingested.stderr
    denied = podium(tmp_path, "kb", "query", "espresso pressure", "--kb", "kitchen")
    assert denied.returncode == 1 and "may not read the knowledge base 'kitchen'" in denied.stderr
    found = podium(
        tmp_path, "kb", "query", "espresso pressure", "--kb", "kitchen", "--team", "cooks", "--json"
    )
    assert json.loads(found.stdout.splitlines()[0])["source"] == "coffee.md"
    (tmp_path / "queries.jsonl").write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"query": "how hot should the water be for green tea", "relevant": ["tea.md"]},
                {"query": "espresso brewing pressure", "relevant": ["coffee.md"]},
                {"query": "sourdough starter", "relevant": {"bread.txt": 2}},
            ]
        ),
        encoding="utf-8",
    )
    table = podium(
        tmp_path, "kb", "eval", str(tmp_path / "queries.jsonl"), "--kb", "kitchen", "--team", "cooks"
    )
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()[1:]
    assert header.split() == ["mode", "recall@10", "MRR", "nDCG@10"]
    scores = {row.split()[0]: [float(x) for x in row.split()[1:]] for row in rows}
    assert set(scores) == {"bm25", "vector", "hybrid"} and scores["hybrid"][0] == 1.0
    queries = str(tmp_path / "queries.jsonl")
    tuned = podium(tmp_path, "kb", "eval", queries, "--kb", "kitchen", "--team", "cooks", "--tune", "--json")
    assert tuned.returncode == 0, tuned.stderr
    found = json.loads(tuned.stdout)
    assert found["tuned"]["recall"] == 1.0 and len(found["tuned"]["chosen"]) == 3  # 3 queries: 3 folds
    assert {"rrf_k", "vector_weight"} == set(found["tuned"]["chosen"][0])
    bad = podium(tmp_path, "kb", "eval", queries, "--kb", "kitchen", "--rrf-k", "0")
    assert bad.returncode != 0 and "--rrf-k is at least 1" in bad.stderr
    docs_listed = podium(tmp_path, "kb", "documents", "kitchen", "--json")
    doc = next(json.loads(line) for line in docs_listed.stdout.splitlines() if "bread" in line)
    assert doc["metadata"] == {"shelf": "top"}
    assert podium(tmp_path, "kb", "delete", "kitchen", "--document", doc["id"]).returncode == 0
    listed = podium(tmp_path, "kb", "list", "--json")
    assert json.loads(listed.stdout)["document_count"] == 2
