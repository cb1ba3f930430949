"""What a prompt is, checked: names, labels, references, and a version's content.

The records themselves live with storage (:mod:`podium.storage.prompt_records`); this module says
which of them are valid and how a reference such as ``prompt:contract-summary@production`` reads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from podium.errors import RequestError
from podium.prompts.reference import MODEL_PREFIX
from podium.prompts.template import CompiledPrompt, RenderLimits, Sandbox
from podium.storage.prompt_records import LabelTarget, PromptSpec

__all__ = [
    "LATEST",
    "MODEL_PREFIX",
    "PromptRef",
    "check_label",
    "check_name",
    "check_spec",
    "check_targets",
    "content_hash",
    "decode_spec",
    "parse_model_ref",
    "parse_ref",
]


LATEST = "latest"  # a reference, not a label: the newest version
DEFAULT_LABEL = "production"
MAX_TARGETS = 16

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LABEL = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_VERSION_REF = re.compile(r"v?([0-9]{1,9})")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_RESERVED_VARIABLES = frozenset({"range", "namespace", "loop", "self", "caller", "varargs", "kwargs"})

_spec_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class PromptRef:
    """A prompt named by a request or an admin call: a label, or a version number."""

    name: str
    label: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@v{self.version}" if self.version is not None else f"{self.name}@{self.label}"


def check_name(name: str, param: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError(
            f"'{name}' is not a prompt name: use letters, digits, '.', '_' and '-' (at most 128), "
            "starting with a letter or digit.",
            param=param,
        )
    return name


def check_label(label: str, param: str = "label") -> str:
    if not _LABEL.fullmatch(label) or label == LATEST or _VERSION_REF.fullmatch(label):
        raise RequestError(
            f"'{label}' is not a label name: lowercase letters, digits, '_' and '-', starting with a letter; "
            f"'{LATEST}' and version-like names (v3) are references, not labels.",
            param=param,
        )
    return label


def parse_ref(name: str, ref: str | None, param: str) -> PromptRef:
    """``ref`` is a label, ``latest``, or a version (``v3`` or ``3``); absent: ``production``."""
    check_name(name, param)
    if ref is None or ref == "":
        return PromptRef(name=name, label=DEFAULT_LABEL)
    if (m := _VERSION_REF.fullmatch(ref)) is not None:
        return PromptRef(name=name, version=int(m.group(1)))
    if ref == LATEST or _LABEL.fullmatch(ref):
        return PromptRef(name=name, label=ref)
    raise RequestError(f"'{ref}' is neither a label nor a version (v3) of prompt '{name}'.", param=param)


def parse_model_ref(model: str) -> PromptRef:
    """``prompt:NAME``, ``prompt:NAME@LABEL`` or ``prompt:NAME@v3``."""
    name, _, ref = model[len(MODEL_PREFIX) :].partition("@")
    return parse_ref(name, ref or None, "model")


def decode_spec(data: Any, what: str = "prompt") -> PromptSpec:
    """A spec from JSON-like data, refusing unknown fields by path."""
    try:
        return msgspec.convert(data, PromptSpec)
    except msgspec.ValidationError as exc:
        text = str(exc)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        raise RequestError(f"Invalid {what}: {text}", param=param) from None


def content_hash(spec: PromptSpec) -> str:
    """SHA-256 of the spec's JSON, in the order it was written (so reordering is a change, as in git)."""
    return hashlib.sha256(_spec_encoder.encode(spec)).hexdigest()


def check_spec(
    spec: PromptSpec, limits: RenderLimits | None = None, env: Sandbox | None = None
) -> CompiledPrompt:
    """Refuse a spec that could not be rendered; the compiled prompt when it can."""
    if (spec.template is None) == (not spec.messages):
        raise RequestError(
            "A prompt has either `template` (text: one user message) or `messages` (chat), not both or neither.",
            param="template" if spec.template is not None else "messages",
        )
    for name in spec.variables:
        if not _VARIABLE.fullmatch(name) or name in _RESERVED_VARIABLES:
            raise RequestError(
                f"'{name}' is not a variable name: a letter, then letters, digits or '_' "
                f"(and not one of {', '.join(sorted(_RESERVED_VARIABLES))}).",
                param=f"variables.{name}",
            )
    config = spec.config
    if config.temperature is not None and not 0 <= config.temperature <= 2:
        raise RequestError("`config.temperature` must be between 0 and 2.", param="config.temperature")
    if config.top_p is not None and not 0 <= config.top_p <= 1:
        raise RequestError("`config.top_p` must be between 0 and 1.", param="config.top_p")
    if config.max_tokens is not None and config.max_tokens < 1:
        raise RequestError("`config.max_tokens` must be at least 1.", param="config.max_tokens")
    rf = config.response_format
    if rf is not None and (rf.type == "json_schema") != (rf.json_schema is not None):
        raise RequestError(
            "`config.response_format.json_schema` is given exactly when type is 'json_schema'.",
            param="config.response_format.json_schema",
        )
    names = [t.name for t in config.tools]
    if len(set(names)) != len(names):
        raise RequestError("`config.tools` names a tool twice.", param="config.tools")
    if config.tool_choice not in (None, "auto", "none", "required", *names):
        raise RequestError(
            f"`config.tool_choice` '{config.tool_choice}' is neither auto, none, required nor a tool's name.",
            param="config.tool_choice",
        )
    return CompiledPrompt(spec, env or Sandbox(), limits or RenderLimits())


def check_targets(targets: tuple[LabelTarget, ...], param: str = "split") -> tuple[LabelTarget, ...]:
    if not targets:
        raise RequestError("A label points at one version at least.", param=param)
    if len(targets) > MAX_TARGETS:
        raise RequestError(f"A label splits traffic across at most {MAX_TARGETS} versions.", param=param)
    seen: set[int] = set()
    for i, target in enumerate(targets):
        if target.version < 1:
            raise RequestError("Versions are numbered from 1.", param=f"{param}[{i}].version")
        if not target.weight > 0 or target.weight > 1_000_000:
            raise RequestError(
                "A weight is a positive number (at most 1,000,000).", param=f"{param}[{i}].weight"
            )
        if target.version in seen:
            raise RequestError(f"Version {target.version} appears twice.", param=f"{param}[{i}].version")
        seen.add(target.version)
    return targets
