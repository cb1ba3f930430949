"""The loader: YAML in, a frozen Config or every problem with its path out."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from podium.config import Config, Deployment, Price, Provider, Route, load_config, validate_config
from podium.errors import ConfigError, ConfigProblem

from .helpers import BASE, EXAMPLE, EXAMPLE_ENV, based, load, problems

# --------------------------------------------------------------------------- happy paths


def test_base_config_loads_into_frozen_structs() -> None:
    """A valid file becomes a Config whose records cannot be changed."""
    config = load(based())
    assert config.deployments["gpt-4o"] == Deployment(provider="openai", model="gpt-4o")
    assert config.routes["support"].fallbacks == ("openai/gpt-4.1",)
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]


def test_empty_file_is_the_default_config() -> None:
    """An empty file (or only comments) is a Config with every default."""
    assert load("# nothing yet\n") == Config()


def test_empty_sections_take_their_defaults() -> None:
    """A section left empty while editing (``providers:``) counts as absent."""
    assert load("server:\nproviders:\nroutes:\n") == Config()


def test_example_file_loads() -> None:
    """examples/podium.yaml is accepted once its key variables are set."""
    config = load_config(EXAMPLE, environ=EXAMPLE_ENV)
    assert config.providers["openai"].api_key == "sk-test"
    assert config.providers["azure-eu"].base_url == "https://contoso-eu.openai.azure.com/openai"
    assert config.routes["support"].fallbacks == ("gpt-4o", "claude-sonnet")
    assert config.deployments["gpt-4o-eu"].price == Price(input=2.5, cached_input=1.25, output=10.0)


def test_dates_stay_strings() -> None:
    """An unquoted ``api_version: 2024-10-21`` is the string Azure expects, not a date."""
    text = """
    providers:
      az:
        type: azure
        base_url: https://x.openai.azure.com/openai
        api_key: k
        api_version: 2024-10-21
    """
    assert load(text).providers["az"].api_version == "2024-10-21"


def test_wildcard_serves_routes_naming_its_models() -> None:
    """A route may name ``openai/<anything>`` when ``openai/*`` exists."""
    config = load(based(routes={"fast": {"deployments": ["openai/gpt-4.1-mini", "openai/o3"]}}))
    assert config.routes["fast"].deployments == ("openai/gpt-4.1-mini", "openai/o3")


def test_postgres_urls_are_accepted() -> None:
    """storage.url may be postgresql:// or postgres://."""
    for url in ("postgresql://podium@db:5432/podium", "postgres://db/podium", "sqlite:////var/lib/podium.db"):
        assert load(based(storage={"url": url})).storage.url == url


# --------------------------------------------------------------------------- YAML itself


def test_yaml_syntax_error_names_line_and_column() -> None:
    """A YAML syntax error is one problem naming the file, line and column."""
    assert problems("server:\n  port: [8400\nproviders: {}\n") == [
        "podium.yaml:3:10: invalid YAML: did not find expected ',' or ']'"
    ]


def test_duplicate_keys_are_problems() -> None:
    """A key given twice is reported instead of the second silently winning."""
    text = """
    providers:
      sim: {type: simulated}
      sim: {type: simulated}
    """
    assert problems(text) == ["providers.sim: duplicate key on line 4 (first on line 3)"]


def test_top_level_must_be_a_mapping() -> None:
    """A file that is a list or a scalar is refused as a whole."""
    assert problems("- providers\n") == ["the file must be a mapping of sections, not a list"]


def test_section_must_be_a_mapping() -> None:
    """A section given as a list is reported at the section."""
    assert problems("deployments: [gpt-4o]\n") == ["deployments: expected a mapping of names, got a list"]


# --------------------------------------------------------------------------- shape


def test_unknown_top_level_section_suggests_the_closest() -> None:
    """A misspelt section is reported with the name it probably meant."""
    assert problems("provider: {}\n") == ["provider: unknown field (did you mean 'providers'?)"]


def test_unknown_field_suggests_the_closest() -> None:
    """``modle`` in a deployment suggests ``model`` (and ``model`` is then missing)."""
    text = based(deployments={"x": {"provider": "openai", "modle": "gpt-4o"}})
    assert problems(text) == [
        "deployments.x.modle: unknown field (did you mean 'model'?)",
        "deployments.x.model: required field is missing",
    ]


def test_unknown_field_without_a_close_name_lists_the_fields() -> None:
    """An unknown field with no near match lists the fields that exist."""
    assert problems(based(server={"colour": "blue"})) == [
        "server.colour: unknown field; expected one of: host, port, max_body_bytes, drain_seconds, log_level"
    ]


def test_unknown_field_alone_does_not_hide_other_checks() -> None:
    """An item with an unknown field still gets its other fields checked."""
    text = based(deployments={"x": {"provider": "nope", "model": "m", "colour": "blue"}})
    assert problems(text) == [
        "deployments.x.colour: unknown field; expected one of: provider, model, capabilities, "
        "context_window, max_output_tokens, price, region, timeouts, weight, rpm, tpm, quality, tasks, "
        "fallbacks",
        "deployments.x.provider: unknown provider 'nope'",
    ]


def test_wrong_type_names_the_types() -> None:
    """A value of the wrong type says what was expected and what was found."""
    assert problems(based(server={"port": "eighty"})) == ["server.port: expected int, got str"]


def test_wrong_container_type_uses_yaml_words() -> None:
    """A scalar where a list belongs is described as a list, the YAML word."""
    text = based(routes={"r": {"deployments": "gpt-4o"}})
    assert problems(text) == ["routes.r.deployments: expected a list, got str"]


def test_invalid_provider_type_suggests_the_closest() -> None:
    """An unknown provider type lists the valid ones and suggests the nearest."""
    [problem] = problems(based(providers={"p": {"type": "opneai"}}))
    assert problem.startswith("providers.p.type: 'opneai' is not one of: openai, azure, ollama,")
    assert problem.endswith("(did you mean 'openai'?)")


def test_invalid_capability_is_reported_at_its_index() -> None:
    """A misspelt capability is reported at its position in the list."""
    text = based(
        deployments={"gpt-4o": {"provider": "openai", "model": "gpt-4o", "capabilities": ["chat", "vison"]}}
    )
    assert problems(text) == [
        "deployments.gpt-4o.capabilities[1]: 'vison' is not one of: chat, streaming, tools, json_object, "
        "json_schema, vision, embeddings (did you mean 'vision'?)"
    ]


def test_header_value_type_is_reported_at_its_key() -> None:
    """A non-string header value is reported at providers.<name>.headers.<header>."""
    text = based(providers={"sim": {"type": "simulated", "headers": {"X-Team": 7}}})
    assert problems(text) == ["providers.sim.headers.X-Team: expected str, got int"]


def test_nested_record_reports_every_field() -> None:
    """Two bad fields in one nested record are two problems."""
    text = based(
        deployments={
            "gpt-4o": {"provider": "openai", "model": "gpt-4o", "price": {"input": "a", "output": "b"}}
        }
    )
    assert problems(text) == [
        "deployments.gpt-4o.price.input: expected float, got str",
        "deployments.gpt-4o.price.output: expected float, got str",
    ]


def test_names_with_dots_are_quoted_in_paths() -> None:
    """A name containing a dot appears in brackets so the path stays unambiguous."""
    text = based(deployments={"gpt-4.1": {"provider": "openai", "model": "gpt-4.1", "modle": "x"}})
    assert problems(text) == ["deployments[\"gpt-4.1\"].modle: unknown field (did you mean 'model'?)"]


def test_non_string_names_are_problems() -> None:
    """A numeric item name is refused: names are strings."""
    assert problems("routes:\n  1: {deployments: [x]}\n") == ["routes.1: a name must be a string"]


# --------------------------------------------------------------------------- cross-references


def test_unknown_provider_suggests_the_closest() -> None:
    """A deployment naming a provider that does not exist is reported at its ``provider`` field."""
    text = based(deployments={"x": {"provider": "opnai", "model": "gpt-4o"}})
    assert problems(text) == ["deployments.x.provider: unknown provider 'opnai' (did you mean 'openai'?)"]


def test_unknown_fallback_is_reported_at_its_index() -> None:
    """The design document's example: an unknown deployment in a route's fallbacks."""
    text = based(routes={"support": {"deployments": ["gpt-4o"], "fallbacks": ["sim/echo", "gpt-5-mini"]}})
    assert problems(text) == ["routes.support.fallbacks[1]: unknown deployment 'gpt-5-mini'"]


def test_unknown_deployment_suggests_the_closest() -> None:
    """A near miss of a deployment name is suggested."""
    text = based(routes={"support": {"deployments": ["gpt4o"]}})
    assert problems(text) == [
        "routes.support.deployments[0]: unknown deployment 'gpt4o' (did you mean 'gpt-4o'?)"
    ]


def test_deployment_listed_twice_in_a_route() -> None:
    """The same deployment in deployments and fallbacks of one route is a problem at the second."""
    text = based(routes={"support": {"deployments": ["gpt-4o"], "fallbacks": ["sim/echo", "gpt-4o"]}})
    assert problems(text) == [
        "routes.support.fallbacks[1]: 'gpt-4o' is already listed at routes.support.deployments[0]"
    ]


def test_route_must_list_a_deployment() -> None:
    """A route with an empty deployments list is a problem."""
    text = based(routes={"support": {"deployments": []}})
    assert problems(text) == ["routes.support.deployments: must list at least one deployment"]


def test_route_name_equal_to_a_deployment_name() -> None:
    """A public name that is both a route and a deployment is ambiguous."""
    text = based(routes={"gpt-4o": {"deployments": ["sim/echo"]}})
    assert problems(text) == [
        "routes.gpt-4o: 'gpt-4o' is also a deployment name; a public model name must mean one thing"
    ]


def test_route_naming_a_route() -> None:
    """Routes list deployments, not other routes."""
    text = based(routes={"other": {"deployments": ["support"]}})
    assert problems(text) == [
        "routes.other.deployments[0]: 'support' is a route; a route lists deployments, not other routes"
    ]


def test_route_naming_a_wildcard_itself() -> None:
    """``openai/*`` in a route must be a concrete model under it."""
    text = based(routes={"r": {"deployments": ["openai/*"]}})
    assert problems(text) == [
        "routes.r.deployments[0]: 'openai/*' is a wildcard; name one of its models, like 'openai/<model>'"
    ]


def test_reference_to_a_broken_item_is_not_reported_twice() -> None:
    """A route naming a deployment that has its own problem reports only that problem."""
    text = based(deployments={"gpt-4o": {"provider": "openai"}})
    assert problems(text) == ["deployments.gpt-4o.model: required field is missing"]


# --------------------------------------------------------------------------- wildcards


def test_wildcard_name_needs_star_model() -> None:
    """A deployment named ``x/*`` must have model ``"*"``."""
    text = based(deployments={"openai/*": {"provider": "openai", "model": "gpt-4o"}})
    assert problems(text) == [
        "deployments.openai/*.model: must be \"*\" in a wildcard deployment ('openai/*')"
    ]


def test_star_model_needs_wildcard_name() -> None:
    """Model ``"*"`` belongs only to a deployment named like ``openai/*``."""
    text = based(deployments={"any": {"provider": "openai", "model": "*"}})
    assert problems(text) == [
        "deployments.any.model: \"*\" is only for a wildcard deployment, named like 'openai/*'"
    ]


def test_star_elsewhere_in_a_name() -> None:
    """A ``*`` that is not the final segment after ``/`` is refused."""
    text = based(deployments={"gpt-*": {"provider": "openai", "model": "gpt-4o"}})
    assert problems(text) == [
        "deployments.gpt-*: '*' may only end a wildcard deployment's name after a '/', as in 'openai/*'"
    ]


# --------------------------------------------------------------------------- values


def test_port_out_of_range() -> None:
    """server.port must fit in 0..65535."""
    assert problems(based(server={"port": 70000})) == ["server.port: must be between 0 and 65535, got 70000"]


def test_negative_price() -> None:
    """Every price value must be at least zero, each reported at its field."""
    text = based(
        deployments={
            "gpt-4o": {"provider": "openai", "model": "gpt-4o", "price": {"input": -1, "cached_input": -0.5}}
        }
    )
    assert problems(text) == [
        "deployments.gpt-4o.price.input: must not be negative, got -1",
        "deployments.gpt-4o.price.cached_input: must not be negative, got -0.5",
    ]


def test_timeouts_must_be_positive() -> None:
    """A zero or negative timeout is refused."""
    text = based(
        deployments={"gpt-4o": {"provider": "openai", "model": "gpt-4o", "timeouts": {"connect": 0}}}
    )
    assert problems(text) == ["deployments.gpt-4o.timeouts.connect: must be positive, got 0"]


def test_timeouts_connect_and_first_token_within_total() -> None:
    """connect and first_token may not exceed total."""
    timeouts = {"connect": 20, "first_token": 30, "total": 10}
    text = based(deployments={"gpt-4o": {"provider": "openai", "model": "gpt-4o", "timeouts": timeouts}})
    assert problems(text) == [
        "deployments.gpt-4o.timeouts.connect: 20 exceeds timeouts.total (10)",
        "deployments.gpt-4o.timeouts.first_token: 30 exceeds timeouts.total (10)",
    ]


def test_short_total_with_default_first_token_is_fine() -> None:
    """A short total alone is accepted: the default first_token is then bounded by it."""
    text = based(deployments={"gpt-4o": {"provider": "openai", "model": "gpt-4o", "timeouts": {"total": 30}}})
    assert load(text).deployments["gpt-4o"].timeouts.total == 30


def test_max_output_within_context_window() -> None:
    """max_output_tokens larger than context_window is a problem."""
    dep = {"provider": "openai", "model": "gpt-4o", "context_window": 1000, "max_output_tokens": 2000}
    assert problems(based(deployments={"gpt-4o": dep})) == [
        "deployments.gpt-4o.max_output_tokens: 2000 exceeds context_window (1000)"
    ]


def test_capabilities_must_not_be_empty() -> None:
    """A deployment that can do nothing is a mistake."""
    text = based(deployments={"gpt-4o": {"provider": "openai", "model": "gpt-4o", "capabilities": []}})
    assert problems(text) == ["deployments.gpt-4o.capabilities: must list at least one capability"]


def test_region_must_be_an_identifier() -> None:
    """Regions are lowercase words joined by '-' or '_'."""
    text = based(providers={"sim": {"type": "simulated", "region": "EU West"}})
    assert problems(text) == [
        "providers.sim.region: 'EU West' is not a region name: lowercase words joined by '-', like 'eu-west-1'"
    ]


def test_base_url_required_without_a_preset() -> None:
    """openai-compatible has no preset URL, so base_url is required."""
    text = based(providers={"mine": {"type": "openai-compatible"}})
    assert problems(text) == ["providers.mine.base_url: required for type 'openai-compatible'"]


def test_base_url_must_be_http() -> None:
    """base_url must be an http(s) URL with a host."""
    text = based(providers={"mine": {"type": "vllm", "base_url": "localhost:8000/v1"}})
    assert problems(text) == [
        "providers.mine.base_url: must be an http:// or https:// URL, got 'localhost:8000/v1'"
    ]


def test_azure_needs_base_url_and_api_version() -> None:
    """An azure provider without base_url and api_version gets both problems."""
    text = based(providers={"az": {"type": "azure", "api_key": "k"}})
    assert problems(text) == [
        "providers.az.base_url: required for type 'azure'",
        "providers.az.api_version: required for type 'azure' (for example \"2024-10-21\")",
    ]


def test_hosted_provider_needs_a_key() -> None:
    """A hosted provider without api_key is told the usual reference."""
    text = based(providers={"groq": {"type": "groq"}})
    assert problems(text) == [
        "providers.groq.api_key: required for type 'groq' (usually \"${GROQ_API_KEY}\")"
    ]


def test_storage_url_scheme() -> None:
    """storage.url must be SQLite or PostgreSQL."""
    assert problems(based(storage={"url": "mysql://db/podium"})) == [
        "storage.url: must start with sqlite:// (sqlite:///path/to/podium.db) "
        "or postgresql:// (postgresql://user@host:5432/db)"
    ]


def test_storage_sizes_must_be_positive() -> None:
    """pool_size and the flush settings must be at least one."""
    assert problems(based(storage={"pool_size": 0, "flush_batch_size": -1})) == [
        "storage.pool_size: must be positive, got 0",
        "storage.flush_batch_size: must be positive, got -1",
    ]


# --------------------------------------------------------------------------- all at once


def test_every_problem_is_reported_at_once() -> None:
    """Problems in different sections and items all come back in one ConfigError."""
    text = """
    server: {port: 70000, hots: x}
    providers:
      openai: {type: openai, api_key: "${OPENAI_API_KEY}"}
      az: {type: azure, api_key: k}
    deployments:
      gpt-4o: {provider: openai, modle: gpt-4o}
      mini: {provider: opnai, model: gpt-4o-mini, price: {input: -1}}
    routes:
      support: {deployments: [mini], fallbacks: [mini, gpt-5-mini]}
    storage: {url: "mysql://x"}
    """
    assert problems(text) == [
        "providers.openai.api_key: environment variable OPENAI_API_KEY is not set",
        "server.hots: unknown field (did you mean 'host'?)",
        "deployments.gpt-4o.modle: unknown field (did you mean 'model'?)",
        "deployments.gpt-4o.model: required field is missing",
        "server.port: must be between 0 and 65535, got 70000",
        "storage.url: must start with sqlite:// (sqlite:///path/to/podium.db) "
        "or postgresql:// (postgresql://user@host:5432/db)",
        "providers.az.base_url: required for type 'azure'",
        "providers.az.api_version: required for type 'azure' (for example \"2024-10-21\")",
        "deployments.mini.provider: unknown provider 'opnai' (did you mean 'openai'?)",
        "deployments.mini.price.input: must not be negative, got -1",
        "routes.support.fallbacks[0]: 'mini' is already listed at routes.support.deployments[0]",
        "routes.support.fallbacks[1]: unknown deployment 'gpt-5-mini'",
    ]


def test_config_error_carries_structured_problems() -> None:
    """ConfigError.problems are ConfigProblem records with path and message apart."""
    with pytest.raises(ConfigError) as info:
        load(based(server={"port": 70000}))
    assert info.value.problems == [ConfigProblem("server.port", "must be between 0 and 65535, got 70000")]
    assert info.value.status == 500 and info.value.type == "config_error"


# --------------------------------------------------------------------------- files and built configs


def test_missing_file() -> None:
    """A file that does not exist is one problem naming it."""
    with pytest.raises(ConfigError) as info:
        load_config("/nonexistent/podium.yaml", environ={})
    assert [str(p) for p in info.value.problems] == ["/nonexistent/podium.yaml: no such file"]


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    """load_config names the file it read in a YAML syntax error."""
    path = tmp_path / "bad.yaml"
    path.write_text("a: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value.problems[0]).startswith(f"{path}:2:1: invalid YAML:")


def test_validate_config_checks_a_built_config() -> None:
    """A Config built in code gets the same checks of meaning as a loaded one."""
    config = Config(
        providers={"sim": Provider(type="simulated")},
        deployments={"sim/*": Deployment(provider="sim", model="*")},
        routes={"r": Route(deployments=("sim/echo", "nope"))},
    )
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert [str(p) for p in info.value.problems] == ["routes.r.deployments[1]: unknown deployment 'nope'"]
    assert validate_config(msgspec.structs.replace(config, routes={})) is not None


def test_base_fixture_is_valid() -> None:
    """The shared BASE configuration is itself accepted (so each test's problem is its own)."""
    assert set(load(based()).providers) == set(BASE["providers"])


def test_anchors_and_merge_keys_work() -> None:
    """YAML anchors and ``<<`` merges share settings without counting as duplicate keys."""
    text = """
    providers:
      sim: {type: simulated}
    deployments:
      a: &base {provider: sim, model: echo, timeouts: {connect: 2, first_token: 10, total: 30}}
      b:
        <<: *base
        model: lorem
    """
    config = load(text)
    assert config.deployments["b"].model == "lorem"
    assert config.deployments["b"].timeouts == config.deployments["a"].timeouts


def test_load_config_defaults_to_podium_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config(None) reads ./podium.yaml."""
    (tmp_path / "podium.yaml").write_text("server: {port: 9001}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, environ={}).server.port == 9001
