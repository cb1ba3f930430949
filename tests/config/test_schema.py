"""The JSON Schema of podium.yaml (``podium schema``): well-formed, and it accepts the example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.config import config_schema

from .helpers import EXAMPLE

PODIUM = Path(sys.executable).with_name("podium")

# msgspec emits these keywords and no others; the validator below implements exactly these, and a
# test fails if the schema ever uses more (jsonschema is not a dependency).
KEYWORDS = {
    "$schema", "$ref", "$defs", "title", "description", "default",
    "type", "properties", "required", "additionalProperties", "anyOf", "enum", "items",
    "minimum", "maximum", "pattern",
}  # fmt: skip
TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def errors(instance: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """The places where ``instance`` breaks ``schema``: a validator for the keywords in KEYWORDS."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return errors(instance, root["$defs"][name], root, path)
    if "anyOf" in schema:
        if any(not errors(instance, option, root, path) for option in schema["anyOf"]):
            return []
        return [f"{path}: matches no option"]
    if "enum" in schema:
        return [] if instance in schema["enum"] else [f"{path}: {instance!r} not in enum"]
    kind = schema.get("type")
    if kind is not None:
        python_type = TYPES[kind]
        if isinstance(instance, bool) and kind in ("integer", "number"):
            return [f"{path}: bool is not {kind}"]
        if not isinstance(instance, python_type):
            return [f"{path}: expected {kind}"]
    found: list[str] = []
    number = isinstance(instance, (int, float)) and not isinstance(instance, bool)
    if number and "minimum" in schema and instance < schema["minimum"]:
        found.append(f"{path}: below {schema['minimum']}")
    if number and "maximum" in schema and instance > schema["maximum"]:
        found.append(f"{path}: above {schema['maximum']}")
    if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"], instance):
        found.append(f"{path}: does not match {schema['pattern']}")
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        found += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in instance]
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            if key in properties:
                found += errors(value, properties[key], root, f"{path}.{key}")
            elif extra is False:
                found.append(f"{path}.{key}: not allowed")
            elif isinstance(extra, dict):
                found += errors(value, extra, root, f"{path}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            found += errors(item, schema["items"], root, f"{path}[{i}]")
    return found


def keywords(node: Any) -> set[str]:
    """Every keyword the schema uses (not the names under properties/$defs, nor default values)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for child in value.values():
                    found |= keywords(child)
            elif key != "default":
                found |= keywords(value)
    elif isinstance(node, list):
        for item in node:
            found |= keywords(item)
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return config_schema()


def test_schema_is_draft_2020_12_with_a_title(schema: dict[str, Any]) -> None:
    """The schema declares its dialect and a title, and points at the Config definition."""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Podium configuration (podium.yaml)"
    assert schema["$ref"] == "#/$defs/Config"


def test_schema_uses_only_known_keywords(schema: dict[str, Any]) -> None:
    """The schema stays within the keywords this test's validator implements."""
    assert keywords(schema) <= KEYWORDS


def test_every_reference_resolves(schema: dict[str, Any]) -> None:
    """Each $ref names a definition that exists."""
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].removeprefix("#/$defs/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    assert refs <= set(schema["$defs"])
    assert {"Config", "Provider", "Deployment", "Route", "Price", "Timeouts"} <= refs | {"Config"}


def test_schema_validates_the_example(schema: dict[str, Any]) -> None:
    """examples/podium.yaml, as written (references unresolved), conforms to the schema."""
    assert errors(yaml.safe_load(EXAMPLE.read_text()), schema, schema) == []


def test_schema_rejects_unknown_fields_and_wrong_types(schema: dict[str, Any]) -> None:
    """The schema catches what an editor should underline: an unknown field, a wrong type, a bad enum."""
    bad = {
        "server": {"port": "eighty"},
        "providers": {"p": {"type": "opneai"}},
        "deployments": {"d": {"provider": "p", "modle": "x"}},
    }
    assert errors(bad, schema, schema) == [
        "$.server.port: expected integer",
        "$.providers.p.type: 'opneai' not in enum",
        "$.deployments.d.model: required",
        "$.deployments.d.modle: not allowed",
    ]


def test_fields_carry_descriptions(schema: dict[str, Any]) -> None:
    """Fields have descriptions, which editors show on hover."""
    provider = schema["$defs"]["Provider"]["properties"]
    assert "api_key" in provider and provider["api_key"]["description"]


@pytest.mark.slow
def test_podium_schema_prints_the_schema() -> None:
    """``podium schema`` prints the same schema as JSON."""
    result = subprocess.run([str(PODIUM), "schema"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(json.dumps(config_schema()))
