"""The configuration examples in docs/routing.md are accepted by the loader `podium check` runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from podium.config import parse_config

ROOT = Path(__file__).parents[2]
BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "routing.md").read_text(), re.DOTALL)


def test_the_page_has_examples() -> None:
    """The routing page shows configuration examples."""
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_yaml_block_is_a_valid_config(block: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each YAML block of docs/routing.md is a complete configuration without problems."""
    monkeypatch.chdir(ROOT / "src")  # the classifier example names the shipped model by its path
    parse_config(block, environ=dict(os.environ))
