"""The smaller CLI commands, run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from podium import __version__
from podium.cli import COMMANDS


def podium(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.parametrize("command", [name for name, _ in COMMANDS])
def test_every_command_has_help(command: str) -> None:
    """Every command answers --help with a usage line and a description."""
    done = podium(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: podium {command}")
    assert len(done.stdout.splitlines()) > 3


def test_top_level_help_lists_every_command() -> None:
    """`podium --help` lists every command with its one-line help."""
    out = podium("--help").stdout
    for name, help_text in COMMANDS:
        assert name in out and help_text.split()[0] in out


def test_version() -> None:
    """`podium version` prints the package version."""
    assert podium("version").stdout.startswith(f"podium {__version__}")


def test_migrate_then_up_to_date(tmp_path: Path) -> None:
    """`podium migrate` applies the migrations once, then reports the store up to date."""
    first = podium("migrate", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    applied = first.stdout.split("applied migrations ")[1].split(" to ")[0].split(", ")
    assert applied[0] == "1" and applied == sorted(applied, key=int)
    second = podium("migrate", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert f"is up to date (schema version {applied[-1]})" in second.stdout


def test_requests_on_empty_store(tmp_path: Path) -> None:
    """`podium requests` on a new store says nothing has been recorded yet."""
    done = podium("requests", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert done.returncode == 0 and "no requests recorded yet" in done.stdout


def test_broken_config_is_reported_by_every_command(tmp_path: Path) -> None:
    """A command given a broken configuration prints its problems with paths and exits 1."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("routes:\n  support:\n    deployments: [nowhere]\n")
    for args in (["keys", "list"], ["requests"], ["migrate"], ["serve", "--port", "0"]):
        done = podium(*args, "--config", str(cfg), "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "routes.support.deployments[0]" in done.stderr, (args, done.stderr)
