"""``podium check`` as an operator runs it: a subprocess, its exit code and its output lines."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .helpers import EXAMPLE, EXAMPLE_ENV

pytestmark = pytest.mark.slow

PODIUM = Path(sys.executable).with_name("podium")


def podium(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``podium`` with only PATH (and ``env``) in its environment."""
    environ = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    return subprocess.run(
        [str(PODIUM), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_good_file_passes(tmp_path: Path) -> None:
    """The example file with its keys set: exit 0 and one summary line."""
    result = podium("check", "--config", str(EXAMPLE), cwd=tmp_path, env=EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ok: 5 providers, 7 deployments, 3 routes"]
    assert result.stderr == ""


def test_bad_file_prints_every_problem(tmp_path: Path) -> None:
    """A file with several problems: exit 1 and each problem on its own line of stderr."""
    config = tmp_path / "podium.yaml"
    config.write_text(
        textwrap.dedent(
            """
            providers:
              openai: {type: openai, api_key: "${OPENAI_API_KEY}"}
            deployments:
              gpt-4o: {provider: openai, modle: gpt-4o}
              mini: {provider: openai, model: gpt-4o-mini}
            routes:
              support: {deployments: [mini], fallbacks: [gpt-5-mini]}
            """
        )
    )
    result = podium("check", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "providers.openai.api_key: environment variable OPENAI_API_KEY is not set",
        "deployments.gpt-4o.modle: unknown field (did you mean 'model'?)",
        "deployments.gpt-4o.model: required field is missing",
        "routes.support.fallbacks[0]: unknown deployment 'gpt-5-mini'",
    ]


def test_no_file_checks_the_embedded_default(tmp_path: Path) -> None:
    """Without ./podium.yaml, check says so and validates the embedded default."""
    result = podium("check", cwd=tmp_path, env={"OPENAI_API_KEY": "sk-test"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "no ./podium.yaml: checking the embedded default configuration",
        "ok: 2 providers, 2 deployments, 0 routes",
    ]


def test_missing_named_file_fails(tmp_path: Path) -> None:
    """A --config path that does not exist: exit 1, naming it."""
    result = podium("check", "--config", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["absent.yaml: no such file"]


def test_yaml_syntax_error_fails_with_position(tmp_path: Path) -> None:
    """A YAML syntax error: exit 1 with file, line and column."""
    (tmp_path / "podium.yaml").write_text("providers:\n  sim: {type: simulated\n")
    result = podium("check", cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("podium.yaml:3:1: invalid YAML:")
