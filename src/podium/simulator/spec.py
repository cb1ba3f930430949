"""What a simulated model does, read from its name: ``sim/echo?ttft_ms=200&chunk_delay_ms=5``.

The name is the whole specification — a mode, then options as a query string — so a test needs only
configuration (or a model name in a request) to get the behaviour it wants. The ``sim/`` prefix is
optional. Options are validated once, when the spec is parsed; a bad name or value is a
``ValueError`` that says which option and why, for the config loader to surface.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl

__all__ = ["MODES", "OPTIONS", "Mode", "SimSpec", "parse_spec"]

Mode = Literal["echo", "tools", "json", "lorem", "embed"]
MODES: tuple[Mode, ...] = get_args(Mode)

_TRUE = frozenset({"", "1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSpec:
    """A parsed model name. Times are in milliseconds; ``None`` means the knob is off."""

    mode: Mode = "echo"
    name: str = "sim/echo"  # the model name without its options, as the answer reports it
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    error_rate: float | None = None
    status: int | None = None
    retry_after: float | None = None
    hang: bool = False
    malformed: bool = False
    disconnect_after: int | None = None
    seed: int | None = None
    words: int = 50
    dims: int = 256
    chunk_words: int = 1
    usage: bool = True  # false: answers carry no usage, like many self-hosted servers
    cached_tokens: int = 0  # of the input tokens, how many the answer reports as read from a cache
    cache_write_tokens: int = 0  # … and as written to it (Anthropic, Bedrock)
    thinking: bool = False  # reason before answering: a signed thinking block (podium.simulator.thinking)
    redacted_thinking: bool = False  # … followed by a redacted one

    @property
    def failure_status(self) -> int | None:
        """The status a failing answer carries, when failures are configured at all."""
        if self.status is not None:
            return self.status
        return 500 if self.error_rate is not None else None

    @property
    def failure_rate(self) -> float:
        """The probability of failing: ``error_rate``, or certainty when only ``status`` is set."""
        if self.error_rate is not None:
            return self.error_rate
        return 1.0 if self.status is not None else 0.0

    def with_options(self, options: Mapping[str, str]) -> SimSpec:
        """This spec with ``options`` (raw strings, e.g. from ``x-sim-*`` headers) applied on top."""
        if not options:
            return self
        return replace(self, **_convert(options))


def _non_negative_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"option '{name}' must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"option '{name}' must be a finite number >= 0, got {raw!r}")
    return value


def _int(name: str, raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"option '{name}' must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"option '{name}' must be {bound}, got {raw!r}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"option '{name}' must be true or false, got {raw!r}")


def _rate(name: str, raw: str) -> float:
    value = _non_negative_float(name, raw)
    if value > 1:
        raise ValueError(f"option '{name}' must be between 0 and 1, got {raw!r}")
    return value


# option name -> converter from its raw string; the one list of knobs, shared by both front ends.
OPTIONS: dict[str, Callable[[str, str], Any]] = {
    "latency_ms": _non_negative_float,
    "ttft_ms": _non_negative_float,
    "chunk_delay_ms": _non_negative_float,
    "error_rate": _rate,
    "status": lambda n, r: _int(n, r, 400, 599),
    "retry_after": _non_negative_float,
    "hang": _bool,
    "malformed": _bool,
    "disconnect_after": lambda n, r: _int(n, r, 0),
    "seed": lambda n, r: _int(n, r, -(2**63)),
    "words": lambda n, r: _int(n, r, 0, 100_000),
    "usage": _bool,
    "dims": lambda n, r: _int(n, r, 1, 65_536),
    "chunk_words": lambda n, r: _int(n, r, 1),
    "cached_tokens": lambda n, r: _int(n, r, 0),
    "cache_write_tokens": lambda n, r: _int(n, r, 0),
    "thinking": _bool,
    "redacted_thinking": _bool,
}


def _convert(options: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_name, raw in options.items():
        name = raw_name.strip().lower().replace("-", "_")
        convert = OPTIONS.get(name)
        if convert is None:
            known = ", ".join(OPTIONS)
            raise ValueError(f"unknown simulator option '{raw_name}' (known options: {known})")
        out[name] = convert(name, raw)
    return out


def parse_spec(spec: str, *, default_mode: Mode | None = None) -> SimSpec:
    """Parse ``[sim/]<mode>[?option=value&...]``.

    An unknown mode is an error unless ``default_mode`` is given: the standalone server answers any
    model name (``gpt-4o-mini``) with the echo behaviour, so a gateway can point a real provider
    type at it unchanged.
    """
    base, _, query = spec.strip().partition("?")
    mode_name = base.removeprefix("sim/").strip().lower()
    mode: Mode
    if mode_name in MODES:
        mode = mode_name
    elif default_mode is not None:
        mode = default_mode
    else:
        raise ValueError(
            f"unknown simulator mode {mode_name!r} in model {spec!r} (known modes: {', '.join(MODES)})"
        )
    pairs = parse_qsl(query, keep_blank_values=True)  # a bare ``hang`` means ``hang=true``
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"option '{key}' is given twice in model {spec!r}")
        seen[key] = value
    name = base.strip() if base.strip().startswith("sim/") else f"sim/{base.strip()}"
    return SimSpec(mode=mode, name=name, **_convert(seen))
