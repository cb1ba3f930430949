"""`podium eval run` as a real process: a dataset through two labelled prompt versions, scores printed
per version, stored with the dataset as their source, a judge's unusable answers left unmeasured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.test_serve import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prompts"

CONFIG = """
providers:
  sim:
    type: simulated
deployments:
  sim/*:
    provider: sim
    model: "*"
  judge-model:
    provider: sim
    model: echo
routes:
  judge:
    deployments: [judge-model]
evaluation:
  judge_route: judge
  evaluators:
    mentions: {type: contains}
    brief: {type: length, max_words: 200}
    faithful: {type: judge, rubric: "Is the summary faithful to the contract?"}
"""

DATASET = [
    {
        "id": "lease",
        "variables": {"contract": "A lease with a termination clause."},
        "expected": "termination",
    },
    {"id": "nda", "variables": {"contract": "A mutual NDA lasting two years."}, "expected": "two years"},
]


def test_eval_run_prints_scores_per_prompt_version(tmp_path: Path) -> None:
    """Each labelled version is scored per evaluator; a version missing the expected text scores 0."""
    (tmp_path / "podium.yaml").write_text(CONFIG)
    v1 = tmp_path / "v1"
    v1.mkdir()
    shutil.copy(EXAMPLES / "contract-summary.yaml", v1)
    pushed = cli(tmp_path, "prompts", "push", str(v1), "--label", "staging")
    assert pushed.returncode == 0, pushed.stderr
    v2 = tmp_path / "v2"
    v2.mkdir()
    text = (
        (EXAMPLES / "contract-summary.yaml")
        .read_text()
        .replace("    {{ contract }}\n", "    (the contract is attached)\n")
    )
    assert text != (EXAMPLES / "contract-summary.yaml").read_text()
    (v2 / "contract-summary.yaml").write_text(text)
    pushed = cli(tmp_path, "prompts", "push", str(v2), "--label", "production")
    assert pushed.returncode == 0, pushed.stderr
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text("\n".join(json.dumps(row) for row in DATASET) + "\n")

    done = cli(
        tmp_path, "eval", "run", str(dataset), "--prompt", "contract-summary@staging",
        "--prompt", "contract-summary@production", "--min-score", "0.5",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # v2's mean is below --min-score
    lines = {tuple(line.split()[:2]): line.split() for line in done.stdout.splitlines()[1:] if line.strip()}
    assert lines[("contract-summary@v1", "mentions")][2:] == ["2", "2", "1.000", "100%"]
    assert lines[("contract-summary@v2", "mentions")][2:] == ["2", "2", "0.000", "0%"]
    assert lines[("contract-summary@v1", "brief")][4] == "1.000"
    assert lines[("contract-summary@v1", "faithful")][2:] == ["2", "0", "-", "-"]  # unmeasured, not failed

    listed = cli(tmp_path, "requests", "--json", "--limit", "100")
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    evaluated = [r for r in records if r["key_id"] == "podium:eval"]
    assert len(evaluated) == 4 and {r["prompt_version"] for r in evaluated} == {1, 2}
    assert sum(1 for r in records if r["key_id"] == "podium:judge") == 4


def test_eval_run_refuses_a_bad_dataset(tmp_path: Path) -> None:
    """A dataset line that is not a case is an error naming the line; nothing runs."""
    (tmp_path / "podium.yaml").write_text(CONFIG)
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"variables": {}}\n{"colour": "red"}\n')
    done = cli(tmp_path, "eval", "run", str(dataset), "--model", "sim/echo")
    assert done.returncode == 1
    assert "bad.jsonl:2" in done.stderr
