"""``${VAR}`` references: resolved from the environ passed in, and every unresolved one reported."""

from __future__ import annotations

import pytest

from .helpers import load, problems

SIM = "providers:\n  sim:\n    type: simulated\n"


def header(value: str) -> str:
    """A config whose only interesting value is one header, quoted as written."""
    return SIM + f"    headers: {{X-Value: '{value}'}}\n"


def resolved(value: str, environ: dict[str, str]) -> str:
    return load(header(value), environ).providers["sim"].headers["X-Value"]


def test_reference_is_replaced_by_the_value() -> None:
    """``${NAME}`` becomes the variable's value."""
    assert resolved("${TEAM}", {"TEAM": "platform"}) == "platform"


def test_reference_inside_a_longer_string() -> None:
    """References may sit anywhere in a string, several at once."""
    assert resolved("https://${HOST}:${PORT}/v1", {"HOST": "llm", "PORT": "8000"}) == "https://llm:8000/v1"


def test_default_when_unset() -> None:
    """``${NAME:-default}`` takes the default when the variable is not set."""
    assert resolved("${TEAM:-everyone}", {}) == "everyone"


def test_default_when_empty() -> None:
    """Like the shell, an empty variable also takes the default."""
    assert resolved("${TEAM:-everyone}", {"TEAM": ""}) == "everyone"


def test_value_beats_default() -> None:
    """A set variable wins over the default."""
    assert resolved("${TEAM:-everyone}", {"TEAM": "ml"}) == "ml"


def test_empty_default() -> None:
    """``${NAME:-}`` is an empty string when unset."""
    assert resolved("a${TEAM:-}b", {}) == "ab"


def test_double_dollar_escapes() -> None:
    """``$${`` writes a literal ``${`` and resolves nothing."""
    assert resolved("$${TEAM}", {"TEAM": "ml"}) == "${TEAM}"


def test_plain_dollar_is_left_alone() -> None:
    """A ``$`` not followed by ``{`` is ordinary text."""
    assert resolved("cost $5 and $$", {}) == "cost $5 and $$"


def test_missing_variable_is_reported_at_its_path() -> None:
    """An unset variable without a default is a problem at the field that used it."""
    text = "providers:\n  openai:\n    type: openai\n    api_key: ${OPENAI_API_KEY}\n"
    assert problems(text) == ["providers.openai.api_key: environment variable OPENAI_API_KEY is not set"]


def test_missing_variables_in_lists_use_indices() -> None:
    """A reference inside a list is reported with its index."""
    text = (
        SIM
        + "deployments:\n  sim/*: {provider: sim, model: '*'}\nroutes:\n  r: {deployments: [sim/a, '${SECOND}']}\n"
    )
    assert problems(text) == ["routes.r.deployments[1]: environment variable SECOND is not set"]


def test_every_missing_variable_is_reported() -> None:
    """Two unset variables are two problems, in file order."""
    assert problems(header("${A}-${B}")) == [
        "providers.sim.headers.X-Value: environment variable A is not set",
        "providers.sim.headers.X-Value: environment variable B is not set",
    ]


def test_malformed_reference() -> None:
    """A reference whose name is not a variable name is a problem."""
    assert problems(header("${not valid}")) == [
        "providers.sim.headers.X-Value: malformed environment reference '${not valid}': "
        "use ${NAME} or ${NAME:-default}"
    ]


def test_unterminated_reference() -> None:
    """A ``${`` without its ``}`` is a problem."""
    assert problems(header("${TEAM")) == [
        "providers.sim.headers.X-Value: unterminated environment reference: '${' without '}'"
    ]


def test_numbers_from_the_environment() -> None:
    """A number field may come from a variable: ``port: ${PORT}`` reads "9000" as 9000."""
    assert load("server: {port: '${PORT}'}\n", {"PORT": "9000"}).server.port == 9000


def test_non_number_from_the_environment() -> None:
    """A variable that is not a number, used for a number field, is a type problem."""
    assert problems("server: {port: '${PORT}'}\n", {"PORT": "http"}) == ["server.port: expected int, got str"]


def test_unset_key_is_not_also_reported_empty() -> None:
    """An unset api_key variable gives one problem, not a second about the key being empty."""
    text = "providers:\n  groq: {type: groq, api_key: '${GROQ_API_KEY}'}\n"
    assert problems(text) == ["providers.groq.api_key: environment variable GROQ_API_KEY is not set"]


def test_os_environ_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the environ passed in counts; the process environment is not consulted."""
    monkeypatch.setenv("PODIUM_TEST_TEAM", "from-os")
    assert problems(header("${PODIUM_TEST_TEAM}"), {}) == [
        "providers.sim.headers.X-Value: environment variable PODIUM_TEST_TEAM is not set"
    ]


def test_keys_are_not_interpolated() -> None:
    """Only values are resolved; a name stays exactly as written."""
    config = load("providers:\n  ${NAME}: {type: simulated}\n", {"NAME": "x"})
    assert list(config.providers) == ["${NAME}"]
