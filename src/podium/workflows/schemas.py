"""JSON Schema checks for workflow values: run inputs, model answers, review edits, validate steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import fastjsonschema
import msgspec

__all__ = ["schema_error"]


@lru_cache(maxsize=512)
def _compiled(schema_json: bytes) -> Callable[[Any], Any]:
    validate: Callable[[Any], Any] = fastjsonschema.compile(msgspec.json.decode(schema_json))
    return validate


def schema_error(schema: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` does not match ``schema`` (fastjsonschema's message), or None when it does."""
    validate = _compiled(msgspec.json.encode(schema, order="sorted"))
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException as e:
        return str(e.message)
    return None
