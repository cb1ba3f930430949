"""`podium prompts` as a real process: push and pull folders, render, labels, approvals, diffs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from podium.cli import main
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
prompts:
  protected_labels: [production]
  require_approval: true
"""


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "podium.yaml").write_text(CONFIG)
    return tmp_path


def ok(tmp: Path, *args: str) -> str:
    """Run ``podium prompts ARGS`` as its own process (what an operator or a CI job does)."""
    done: subprocess.CompletedProcess[str] = cli(tmp, "prompts", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


class InProcess:
    """``podium prompts ARGS`` through the same entry point, in this process: each separate process
    would pay the CLI's imports again (seconds on a busy machine)."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp
        self.capsys = capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(
            [
                "prompts",
                *args,
                "--data-dir",
                str(self.tmp / "data"),
                "--config",
                str(self.tmp / "podium.yaml"),
            ]
        )
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, err
        return out


def test_push_then_pull_reproduces_the_folder_byte_for_byte(tmp: Path) -> None:
    """Pushing examples/prompts and pulling into an empty folder gives back the same files, byte for byte."""
    source = tmp / "source"
    shutil.copytree(EXAMPLES, source)
    out = ok(tmp, "push", str(source), "-m", "import")
    assert "note:" not in out  # the examples are in the canonical layout
    assert sorted(line.split(":")[0] for line in out.splitlines()) == sorted(
        p.stem for p in source.glob("*.yaml")
    )
    target = tmp / "pulled"
    ok(tmp, "pull", str(target))
    files = sorted(p.name for p in source.iterdir())
    assert files and sorted(p.name for p in target.iterdir()) == files
    for name in files:
        assert (target / name).read_bytes() == (source / name).read_bytes(), name
    again = ok(tmp, "push", str(target))
    assert all(
        line.endswith("v1 unchanged") for line in again.splitlines()
    )  # nothing changed: no new versions


def test_push_checks_every_file_before_writing(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One bad file refuses the whole push, naming the file and the problem; nothing is stored."""
    cmd = InProcess(tmp, capsys)
    folder = tmp / "p"
    shutil.copytree(EXAMPLES, folder)
    (folder / "broken.yaml").write_text("name: broken\ntemplate: 'Hello {{ who }}'\n")
    code, _, err = cmd.run("push", str(folder))
    assert code == 1
    assert "broken.yaml" in err and "'who'" in err
    assert cmd.ok("list").splitlines()[1:] == []
    (folder / "broken.yaml").write_text("name: other\ntemplate: hi\n")
    code, _, err = cmd.run("push", str(folder))
    assert code == 1 and "must be the file's name" in err


def test_render_labels_approvals_and_diff(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """render previews with typed --var values; production moves after a second person approves; diff shows it."""
    cmd = InProcess(tmp, capsys)
    folder = tmp / "p"
    shutil.copytree(EXAMPLES, folder)
    cmd.ok("push", str(folder), "-m", "first", "--as", "alice")
    rendered = json.loads(
        cmd.ok(
            "render",
            "contract-summary",
            "--version",
            "1",
            "--var",
            "contract=Rent is due monthly.",
            "--var",
            "max_points=3",
            "--json",
        )
    )
    assert rendered[0]["content"].startswith(
        "You summarise contracts for a non-lawyer.\nAnswer in at most 3 bullet"
    )
    assert rendered[1]["content"] == "Summarise this contract:\n\nRent is due monthly.\n"
    code, _, err = cmd.run("render", "contract-summary", "--version", "1")
    assert code == 1 and "'contract'" in err

    requested = cmd.ok("label", "contract-summary", "production", "1", "--as", "alice")
    approval = requested.split("approval ")[1].split()[0]
    code, _, err = cmd.run("approve", approval, "--as", "alice")
    assert code == 1 and "second, different person" in err
    cmd.ok("approve", approval, "--as", "bob")
    assert "contract-summary" in cmd.ok("list") and "production→v1" in cmd.ok("list")

    text = (folder / "contract-summary.yaml").read_text().replace("temperature: 0.2", "temperature: 0.5")
    (folder / "contract-summary.yaml").write_text(text.replace("bullet points", "short bullet points"))
    out = cmd.ok("push", str(folder), "-m", "shorter", "--label", "staging", "--as", "alice")
    assert "contract-summary: v2 created" in out and "contract-summary@staging → v2" in out
    diff = cmd.ok("diff", "contract-summary", "production", "staging")
    assert "+Answer in at most {{ max_points }} short bullet points, plainly." in diff
    assert "config.temperature: 0.2 → 0.5" in diff
    history = cmd.ok("history", "contract-summary", "production")
    assert "by cli:alice, approved by cli:bob" in history
