"""What a call cost: a deployment's price, from its config or the shipped table, applied to its usage.

The shipped table (``podium/data/prices.json``) holds vendors' list prices in US dollars per million
tokens, keyed by model name. A model the table does not name exactly is looked up again without its
provider prefix (``openai/gpt-4o``), its date or version suffix (``gpt-4o-2024-08-06``,
``claude-sonnet-4-20250514``, ``gemini-2.0-flash-001``) and in lowercase; a model still unknown has no
price (``None``), which the request record shows as an unknown cost rather than a wrong one.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Final

import msgspec

from podium.canonical import Usage
from podium.config.model import Deployment, Price

__all__ = ["PriceBook", "cost", "load_price_table"]

_TOKENS_PER_PRICE_UNIT: Final = 1_000_000
_FREE = Price()
# Each strips one kind of suffix a vendor appends to a model family's name.
_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"[-@]\d{8}$"),  # claude-sonnet-4-20250514, claude-3-5-sonnet@20240620 (Vertex)
    re.compile(
        r"-(?:latest|\d{4}|\d{3})$"
    ),  # claude-3-7-sonnet-latest, mistral-large-2411, gemini-2.0-flash-001
)
_CACHE_LIMIT = 4096  # wildcards let callers name any model: keep the memo from growing without bound


class _Table(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    models: dict[str, Price]
    source: str = msgspec.field(name="_source", default="")
    updated: str = msgspec.field(name="_updated", default="")


def load_price_table() -> dict[str, Price]:
    """The shipped table: model name → price."""
    raw = resources.files("podium").joinpath("data/prices.json").read_bytes()
    return dict(msgspec.json.decode(raw, type=_Table).models)


class PriceBook:
    """Prices by deployment; built once per configuration, asked on every request."""

    def __init__(self, table: dict[str, Price] | None = None) -> None:
        self._table = load_price_table() if table is None else table
        self._lower = {name.lower(): price for name, price in self._table.items()}
        self._memo: dict[tuple[str, str, str], Price | None] = {}

    def price_for(self, deployment_name: str, deployment: Deployment, upstream_model: str) -> Price | None:
        """The deployment's own ``price``, else the table's for the upstream model, else ``None``.

        Tried in order: ``upstream_model`` (for a wildcard, the caller's suffix), the deployment's
        ``model``, and the deployment's name, since an Azure deployment's model is often a name of
        the operator's choosing while the deployment is named after the real model.
        """
        if deployment.price is not None:
            return deployment.price
        key = (deployment_name, deployment.model, upstream_model)
        try:
            return self._memo[key]
        except KeyError:
            pass
        price = None
        for name in (upstream_model, deployment.model, deployment_name):
            if name and name != "*" and not name.endswith("/*"):
                price = self.lookup(name)
                if price is not None:
                    break
        if len(self._memo) >= _CACHE_LIMIT:
            self._memo.clear()
        self._memo[key] = price
        return price

    def lookup(self, model: str) -> Price | None:
        """The table's price for ``model``, trying the forms described in the module docstring."""
        if model.endswith(":free"):  # OpenRouter's free variants
            return _FREE
        for candidate in _forms(model):
            price = self._table.get(candidate)
            if price is None:
                price = self._lower.get(candidate.lower())
            if price is not None:
                return price
        return None

    @staticmethod
    def cost(price: Price, usage: Usage) -> float:
        """US dollars for ``usage`` at ``price``: the module's :func:`cost`."""
        return cost(price, usage)


def _forms(model: str) -> list[str]:
    bases = [model]
    if "/" in model:
        bases.append(model.rsplit("/", 1)[1])  # openai/gpt-4o, meta-llama/llama-4-scout-…
    if ":" in model:
        bases += [b.split(":", 1)[0] for b in bases if ":" in b]  # openrouter's :nitro, ollama's :8b
    forms = []
    for base in bases:
        forms.append(base)
        stripped = base
        for _ in range(2):  # a date, then a version: claude-3-5-sonnet-20241022 has one, some have two
            shorter = stripped
            for pattern in _SUFFIXES:
                shorter = pattern.sub("", shorter)
            if shorter == stripped:
                break
            stripped = shorter
            forms.append(stripped)
    return forms


def cost(price: Price, usage: Usage) -> float:
    """US dollars for ``usage`` at ``price``.

    ``usage.input_tokens`` counts every prompt token, cache reads and cache writes included (OpenAI's
    ``prompt_tokens`` convention, which every adapter follows): cache reads are billed at
    ``cached_input``, cache writes at ``cache_write`` (each ``input`` when unset), the rest at
    ``input``. Reasoning tokens are part of ``output_tokens`` already, billed at ``output``.
    """
    cached = min(max(usage.cached_input_tokens, 0), usage.input_tokens)
    written = min(max(usage.cache_write_tokens, 0), usage.input_tokens - cached)
    fresh = usage.input_tokens - cached - written
    cached_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    dollars_per_million = (
        fresh * price.input + cached * cached_rate + written * write_rate + usage.output_tokens * price.output
    )
    return dollars_per_million / _TOKENS_PER_PRICE_UNIT
