"""Prices: a deployment's own, else the shipped table's by model name; and what a usage costs."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from podium.accounting.pricing import PriceBook, cost, load_price_table
from podium.canonical import Usage
from podium.config import Deployment, Price

GPT_4O = Price(input=2.5, cached_input=1.25, output=10.0)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


def dep(model: str, price: Price | None = None) -> Deployment:
    return Deployment(provider="p", model=model, price=price)


# --------------------------------------------------------------------------- the table


def test_table_lists_the_common_models() -> None:
    """The shipped table prices every model family the gateway is commonly pointed at."""
    expected = {
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3", "o3-mini", "o4-mini",
        "gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small", "text-embedding-3-large",
        "text-embedding-ada-002", "claude-3-5-haiku", "claude-3-5-sonnet", "claude-3-7-sonnet",
        "claude-sonnet-4", "claude-opus-4", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1",
        "gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro", "mistral-large", "mistral-small",
        "deepseek-chat", "deepseek-reasoner", "llama-3.3-70b-versatile", "llama-3.1-8b-instant",
    }  # fmt: skip
    assert expected <= set(load_price_table())


def test_table_prices_are_sane() -> None:
    """No price is negative, and a cache read never costs more than a fresh input token."""
    for name, price in load_price_table().items():
        assert min(price.input, price.output) >= 0, name
        if price.cached_input is not None:
            assert 0 <= price.cached_input <= price.input, name


def test_table_says_where_its_prices_come_from() -> None:
    """The JSON file carries its sources and the date it was last checked."""
    raw = json.loads(resources.files("podium").joinpath("data/prices.json").read_text())
    assert raw["_source"] and raw["_updated"]


# --------------------------------------------------------------------------- lookup


def test_deployment_price_overrides_the_table(book: PriceBook) -> None:
    """A deployment's own price wins over the table's entry for its model."""
    mine = Price(input=1, output=2)
    assert book.price_for("gpt-4o", dep("gpt-4o", mine), "gpt-4o") is mine


def test_exact_model_name(book: PriceBook) -> None:
    """A model named exactly in the table gets that price."""
    assert book.price_for("gpt-4o", dep("gpt-4o"), "gpt-4o") == GPT_4O


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("mistral-large-2411", "mistral-large"),
    ],
)
def test_date_and_version_suffixes_are_stripped(book: PriceBook, model: str, family: str) -> None:
    """A dated or versioned snapshot gets its family's price."""
    assert book.lookup(model) == load_price_table()[family]


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("meta-llama/llama-4-scout-17b-16e-instruct", "llama-4-scout-17b-16e-instruct"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("GPT-4o", "gpt-4o"),
    ],
)
def test_provider_prefix_and_case_are_ignored(book: PriceBook, model: str, family: str) -> None:
    """``vendor/model`` and a differently cased name find the model's price."""
    assert book.lookup(model) == load_price_table()[family]


def test_exact_snapshot_beats_its_family(book: PriceBook) -> None:
    """A snapshot priced apart (gpt-4o-2024-05-13) keeps its own price."""
    assert book.lookup("gpt-4o-2024-05-13") == Price(input=5.0, output=15.0)


def test_unknown_model_has_no_price(book: PriceBook) -> None:
    """A model the table does not know is unpriced, not free."""
    assert book.price_for("llama", dep("llama3.1:8b"), "llama3.1:8b") is None


def test_openrouter_free_variant_is_free(book: PriceBook) -> None:
    """OpenRouter's ``:free`` models cost nothing."""
    assert book.lookup("meta-llama/llama-3.3-70b-instruct:free") == Price()


def test_wildcard_prices_the_callers_model(book: PriceBook) -> None:
    """Under ``openai/*`` the upstream model (the caller's suffix) picks the price."""
    assert book.price_for("openai/*", dep("*"), "gpt-4.1-mini") == load_price_table()["gpt-4.1-mini"]


def test_azure_deployment_name_is_the_last_resort(book: PriceBook) -> None:
    """An Azure model of the operator's naming falls back to the deployment's name."""
    assert book.price_for("gpt-4o", dep("prod-4o"), "prod-4o") == GPT_4O


def test_custom_table() -> None:
    """A PriceBook can be built on a table of one's own."""
    book = PriceBook({"house-model": Price(input=1, output=1)})
    assert book.lookup("house-model-2025-01-01") == Price(input=1, output=1)
    assert book.lookup("gpt-4o") is None


# --------------------------------------------------------------------------- cost


def test_cost_of_plain_usage() -> None:
    """Input at the input rate plus output at the output rate, per million tokens."""
    assert cost(GPT_4O, Usage(input_tokens=1_000_000, output_tokens=100_000)) == pytest.approx(2.5 + 1.0)


def test_cached_input_at_the_cached_rate() -> None:
    """Cache reads are part of input_tokens and billed at cached_input."""
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cached_input_tokens=400_000)
    assert cost(GPT_4O, usage) == pytest.approx(0.6 * 2.5 + 0.4 * 1.25)


def test_cached_rate_defaults_to_input() -> None:
    """Without cached_input, cache reads cost the input rate."""
    usage = Usage(input_tokens=1_000_000, output_tokens=0, cached_input_tokens=400_000)
    assert cost(Price(input=2, output=8), usage) == pytest.approx(2.0)


def test_cache_writes_at_the_write_rate() -> None:
    """Cache writes are part of input_tokens and billed at cache_write (input when unset)."""
    claude = Price(input=3, output=15, cached_input=0.3, cache_write=3.75)
    usage = Usage(
        input_tokens=1_000_000, output_tokens=0, cached_input_tokens=200_000, cache_write_tokens=300_000
    )
    assert cost(claude, usage) == pytest.approx(0.5 * 3 + 0.2 * 0.3 + 0.3 * 3.75)
    assert cost(Price(input=3, output=15), usage) == pytest.approx(3.0)


def test_reasoning_tokens_are_not_billed_twice() -> None:
    """Reasoning tokens are inside output_tokens already."""
    usage = Usage(input_tokens=0, output_tokens=1_000_000, reasoning_tokens=900_000)
    assert cost(GPT_4O, usage) == pytest.approx(10.0)


def test_inconsistent_counts_never_bill_more_than_input() -> None:
    """Cached tokens beyond input_tokens (a confused upstream) are clamped, never negative."""
    usage = Usage(input_tokens=100, output_tokens=0, cached_input_tokens=500)
    assert cost(GPT_4O, usage) == pytest.approx(100 * 1.25 / 1e6)


def test_pricebook_cost_is_the_module_cost() -> None:
    """PriceBook.cost is the same computation, for callers holding a book."""
    usage = Usage(input_tokens=1234, output_tokens=567, cached_input_tokens=34)
    assert PriceBook.cost(GPT_4O, usage) == cost(GPT_4O, usage)
