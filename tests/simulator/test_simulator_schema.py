"""The schema instance generator answers what Pydantic (and so the openai SDK's `parse`) accepts."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import pytest
from openai.lib._pydantic import to_strict_json_schema

from podium.simulator import instance_for


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(pydantic.BaseModel):
    street: str
    city: str
    zip: Annotated[str, pydantic.Field(min_length=5, max_length=5)]


class Person(pydantic.BaseModel):
    name: str
    age: Annotated[int, pydantic.Field(ge=18, le=120)]
    score: Annotated[float, pydantic.Field(gt=0, lt=1)]
    active: bool
    color: Color
    kind: Literal["customer", "staff"]
    nickname: Optional[str]  # noqa: UP045 - the spelling users write, on purpose
    home: Address
    previous: list[Address]
    tags: Annotated[list[str], pydantic.Field(min_length=2, max_length=3)]
    born: dt.date
    seen: dt.datetime
    id: uuid.UUID
    site: pydantic.AnyUrl
    extra: dict[str, int] = {}


class Node(pydantic.BaseModel):
    value: int
    children: list[Node]
    parent: Node | None = None


class Cat(pydantic.BaseModel):
    pet: Literal["cat"]
    lives: int


class Dog(pydantic.BaseModel):
    pet: Literal["dog"]
    good: bool


class Owner(pydantic.BaseModel):
    animal: Annotated[Union[Cat, Dog], pydantic.Field(discriminator="pet")]  # noqa: UP007 - as users write it
    pair: tuple[int, str]
    unique: set[int] = pydantic.Field(min_length=3)


def _roundtrip(model: type[pydantic.BaseModel], schema: dict[str, Any], text: str = "hello") -> Any:
    value = instance_for(schema, text=text)
    return model.model_validate_json(json.dumps(value))


@pytest.mark.parametrize("model", [Person, Node, Owner, Address])
def test_pydantic_schema_instances_validate(model: type[pydantic.BaseModel]) -> None:
    """An instance of a model's own JSON schema validates against the model."""
    _roundtrip(model, model.model_json_schema())


@pytest.mark.parametrize("model", [Address, Node])
def test_openai_strict_schema_instances_validate(model: type[pydantic.BaseModel]) -> None:
    """An instance of the strict schema the openai SDK sends validates against the model."""
    _roundtrip(model, to_strict_json_schema(model))


def test_constraints_are_honoured() -> None:
    """Numeric bounds, string lengths and item counts are respected."""
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 10, "maximum": 12, "multipleOf": 3},
            "x": {"type": "number", "exclusiveMinimum": 5},
            "y": {"type": "number", "maximum": -3},
            "s": {"type": "string", "minLength": 8, "maxLength": 9},
            "a": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "uniqueItems": True},
        },
        "required": ["n", "x", "y", "s", "a"],
        "additionalProperties": False,
    }
    value = instance_for(schema, text="hi")
    assert value["n"] == 12
    assert value["x"] > 5
    assert value["y"] <= -3
    assert 8 <= len(value["s"]) <= 9
    assert len(value["a"]) == 4 == len(set(value["a"]))


def test_text_fills_strings_and_formats_are_valid() -> None:
    """String fields carry the caller's text; formatted strings parse as their format."""
    value = instance_for(
        {
            "type": "object",
            "properties": {
                "q": {"type": "string"},
                "d": {"type": "string", "format": "date-time"},
                "u": {"type": "string", "format": "uuid"},
                "e": {"type": "string", "format": "email"},
            },
        },
        text="weather in Paris",
    )
    assert value["q"] == "weather in Paris"
    dt.datetime.fromisoformat(value["d"])
    uuid.UUID(value["u"])
    assert "@" in value["e"]


def test_refs_all_of_const_and_nullable_unions() -> None:
    """`$ref` to `definitions`, `allOf` merges, `const` and `["string", "null"]` are understood."""
    schema = {
        "definitions": {"base": {"type": "object", "properties": {"a": {"const": 7}}, "required": ["a"]}},
        "allOf": [{"$ref": "#/definitions/base"}, {"properties": {"b": {"type": ["string", "null"]}}}],
    }
    assert instance_for(schema, text="t") == {"a": 7, "b": "t"}


def test_same_schema_same_instance() -> None:
    """The generator is deterministic."""
    schema = Person.model_json_schema()
    assert instance_for(schema, text="x") == instance_for(schema, text="x")


def test_empty_schema_and_none() -> None:
    """No schema at all still gives a JSON value."""
    assert instance_for(None, text="abc") == "abc"
    assert instance_for({"type": "object"}) == {}


def test_recursive_schema_stays_small() -> None:
    """A schema that refers to itself is expanded once, then answered with its smallest instance."""
    value = instance_for(Node.model_json_schema())
    assert value == {
        "value": 1,
        "children": [{"value": 1, "children": []}],
        "parent": {"value": 1, "children": []},
    }
