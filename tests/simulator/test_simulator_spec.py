"""The model name is the simulator's whole specification."""

from __future__ import annotations

import pytest

from podium.simulator import OPTIONS, SimSpec, parse_spec


def test_prefix_is_optional() -> None:
    """`sim/echo` and `echo` name the same behaviour, and the answer reports the `sim/` name."""
    assert parse_spec("sim/echo") == parse_spec("echo")
    assert parse_spec("echo").name == "sim/echo"


def test_options_are_parsed_and_typed() -> None:
    """Options in the query string become typed fields of the spec."""
    spec = parse_spec("sim/lorem?words=7&ttft_ms=2.5&hang=false&seed=3&status=503&retry_after=1.5")
    assert spec == SimSpec(
        mode="lorem", name="sim/lorem", words=7, ttft_ms=2.5, seed=3, status=503, retry_after=1.5
    )


def test_bare_flag_means_true() -> None:
    """A flag given without a value (`?hang`) is switched on."""
    assert parse_spec("echo?hang").hang is True
    assert parse_spec("echo?malformed=1").malformed is True


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("sim/chatty", "unknown simulator mode 'chatty'"),
        ("echo?latency=5", "unknown simulator option 'latency'"),
        ("echo?latency_ms=soon", "option 'latency_ms' must be a number"),
        ("echo?latency_ms=-1", "must be a finite number >= 0"),
        ("echo?error_rate=1.5", "option 'error_rate' must be between 0 and 1"),
        ("echo?status=200", "option 'status' must be between 400 and 599"),
        ("echo?hang=maybe", "option 'hang' must be true or false"),
        ("echo?dims=0", "option 'dims' must be between 1 and 65536"),
        ("echo?seed=1&seed=2", "option 'seed' is given twice"),
    ],
)
def test_bad_specs_raise_value_error_naming_the_problem(spec: str, fragment: str) -> None:
    """An unknown mode, unknown option or bad value is a ValueError that says which and why."""
    with pytest.raises(ValueError, match=fragment):
        parse_spec(spec)


def test_unknown_mode_falls_back_when_a_default_is_given() -> None:
    """With a default mode, any model name (a real provider's) is accepted with that behaviour."""
    spec = parse_spec("gpt-4o-mini?latency_ms=3", default_mode="echo")
    assert (spec.mode, spec.latency_ms) == ("echo", 3.0)


def test_header_style_options_override_the_name() -> None:
    """Options given apart from the name (x-sim-* headers) override it, with dashes or underscores."""
    spec = parse_spec("echo?status=500").with_options({"status": "429", "Retry-After": "2"})
    assert (spec.status, spec.retry_after) == (429, 2.0)


def test_failure_defaults() -> None:
    """`status` alone always fails; `error_rate` alone fails with 500; neither never fails."""
    assert (parse_spec("echo?status=429").failure_status, parse_spec("echo?status=429").failure_rate) == (
        429,
        1.0,
    )
    assert (
        parse_spec("echo?error_rate=0.2").failure_status,
        parse_spec("echo?error_rate=0.2").failure_rate,
    ) == (
        500,
        0.2,
    )
    assert parse_spec("echo").failure_status is None


def test_every_option_is_a_field() -> None:
    """Each option name the parser accepts is a field of the spec, so none is silently dropped."""
    assert set(OPTIONS) <= set(SimSpec.__dataclass_fields__)
