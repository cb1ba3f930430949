"""Small helpers shared by the configuration tests."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.config import Config, parse_config
from podium.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "podium.yaml"
EXAMPLE_ENV = {"OPENAI_API_KEY": "sk-test", "AZURE_OPENAI_API_KEY": "az-test", "ANTHROPIC_API_KEY": "an-test"}

# A valid configuration that most tests add one mistake to.
BASE: dict[str, Any] = {
    "providers": {
        "openai": {"type": "openai", "api_key": "sk-test"},
        "sim": {"type": "simulated"},
    },
    "deployments": {
        "gpt-4o": {"provider": "openai", "model": "gpt-4o"},
        "openai/*": {"provider": "openai", "model": "*"},
        "sim/*": {"provider": "sim", "model": "*"},
    },
    "routes": {"support": {"deployments": ["gpt-4o"], "fallbacks": ["openai/gpt-4.1"]}},
}


def load(text: str, environ: Mapping[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), source="podium.yaml", environ=environ or {})


def problems(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem the loader reports for ``text``, as ``podium check`` prints them."""
    with pytest.raises(ConfigError) as info:
        load(text, environ)
    return [str(p) for p in info.value.problems]


def based(**sections: Any) -> str:
    """BASE as YAML, with each given section's items added or replaced (``None`` deletes an item)."""
    data = copy.deepcopy(BASE)
    for section, items in sections.items():
        if not isinstance(items, dict):
            data[section] = items
            continue
        target = data.setdefault(section, {})
        for name, value in items.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    return yaml.safe_dump(data, sort_keys=False)
