"""What every non-OpenAI codec needs when it turns a canonical request into its provider's dialect.

The canonical model is OpenAI-shaped; other APIs differ in ways that are shared: tool arguments are
JSON objects rather than JSON text, a tool result must name the call it answers, images travel as
bytes with a media type, and a feature without a counterpart must be refused by name — a
:class:`~podium.errors.UnsupportedFeature` (400) raised before any network call, never silent loss.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import msgspec

from podium.canonical import ChatRequest, ImagePart, Message, Part, Reasoning, TextPart
from podium.errors import RequestError, UnsupportedFeature

__all__ = [
    "GEMINI_SIGNED",
    "IMAGE_MEDIA_TYPES",
    "JSON_TOOL",
    "DataImage",
    "call_names",
    "claude_signature",
    "content_blocks",
    "data_image",
    "refuse",
    "refuse_unsupported",
    "tool_input",
]

# Gemini's thought signatures are marked so that each provider gets back only its own: Claude (direct
# or on Bedrock) refuses a signature it did not make, and Gemini wants its own on the part it came on.
GEMINI_SIGNED = "gemini:"


def claude_signature(r: Reasoning) -> str | None:
    """The signature of a reasoning block that Claude can check: none for unsigned or Gemini's blocks."""
    s = r.signature
    return None if s is None or s.startswith(GEMINI_SIGNED) else s


# The formats Anthropic, Gemini and Bedrock all accept for inline images.
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# Structured output for APIs without a JSON-schema mode: the model is forced to call a tool of this
# name whose parameters are the schema, and the call's arguments come back as the answer's text.
JSON_TOOL = "json_answer"

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.DOTALL)
_decode_json = msgspec.json.Decoder().decode


def content_blocks(
    content: str | tuple[Part, ...] | None,
    where: str,
    *,
    text: Callable[[str], dict[str, Any]],
    image: Callable[[ImagePart, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A message's content as the provider's blocks; empty text is left out (those APIs refuse it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text(content)] if content else []
    out: list[dict[str, Any]] = []
    for j, p in enumerate(content):
        if isinstance(p, TextPart):
            if p.text:
                out.append(text(p.text))
        else:
            out.append(image(p, f"{where}.content[{j}]"))
    return out


def refuse(provider: str, feature: str, hint: str = "") -> UnsupportedFeature:
    """The 400 for a feature ``provider``'s API cannot express; ``feature`` names the request field."""
    message = f"`{feature}` cannot be translated for the {provider} API, so the request was refused."
    if hint:
        message += f" {hint}"
    return UnsupportedFeature(message, param=feature.split("[", 1)[0].split(".", 1)[0])


def refuse_unsupported(
    request: ChatRequest, provider: str, *, fields: tuple[str, ...], dialect: str | None = None
) -> None:
    """Refuse every set field in ``fields``, and ``extra`` unless the caller spoke ``dialect``.

    ``extra`` holds fields of the caller's API with no canonical meaning; only an upstream of that
    same API can take them as they are.
    """
    for name in fields:
        value = getattr(request, name)
        if name == "n":
            if value != 1:
                raise refuse(provider, "n", "Ask for one choice per request.")
        elif value not in (None, False, ()):
            raise refuse(provider, name)
    if request.extra and request.dialect != dialect:
        unknown = sorted(request.extra)
        names = ", ".join(f"`{k}`" for k in unknown)
        raise UnsupportedFeature(
            f"{names} cannot be translated for the {provider} API, so the request was refused.",
            param=unknown[0],
        )


def call_names(messages: tuple[Message, ...]) -> dict[str, str]:
    """Tool-call id → tool name; a tool result that answers no earlier call is the caller's error."""
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        for c in m.tool_calls:
            names[c.id] = c.name
        if m.role == "tool" and (m.tool_call_id is None or m.tool_call_id not in names):
            raise RequestError(
                f"The tool result in messages[{i}] answers tool call '{m.tool_call_id}', "
                "which no earlier assistant message made.",
                param=f"messages[{i}].tool_call_id",
            )
    return names


def tool_input(arguments: str, where: str) -> dict[str, Any]:
    """A tool call's JSON-text arguments as the object other APIs carry."""
    if not arguments.strip():
        return {}
    try:
        value = _decode_json(arguments)
    except msgspec.DecodeError:
        raise RequestError(f"The arguments of {where} are not valid JSON.", param=where) from None
    if not isinstance(value, dict):
        raise RequestError(f"The arguments of {where} must be a JSON object.", param=where)
    return value


class DataImage(msgspec.Struct, frozen=True):
    media_type: str
    data: str  # base64


def data_image(url: str, provider: str, where: str) -> DataImage | None:
    """An inline ``data:`` image as media type and base64, or ``None`` for a remote URL.

    A media type the provider cannot read, or a payload that is not base64, is the caller's error.
    """
    if not url.startswith("data:"):
        return None
    match = _DATA_URL.match(url)
    if match is None or ";base64" not in match.group("params"):
        raise RequestError(f"The image at {where} is not a base64 data: URL.", param=where)
    media_type = match.group("type").lower()
    if media_type == "image/jpg":
        media_type = "image/jpeg"
    if media_type not in IMAGE_MEDIA_TYPES:
        raise UnsupportedFeature(
            f"The image at {where} is {media_type}; the {provider} API accepts "
            f"{', '.join(sorted(IMAGE_MEDIA_TYPES))}.",
            param=where,
        )
    data = match.group("data")
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"The image at {where} is not valid base64.", param=where) from None
    return DataImage(media_type=media_type, data=data)


def image_format(media_type: str) -> str:
    """``image/png`` → ``png`` (Bedrock names formats, not media types)."""
    return media_type.split("/", 1)[1]
