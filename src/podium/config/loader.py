"""Read ``podium.yaml`` into a :class:`~podium.config.model.Config`, reporting every problem at once.

Three passes, each collecting problems instead of stopping at the first:

1. YAML → plain data (a syntax error stops here, with its line and column; duplicate keys are problems).
2. ``${VAR}`` / ``${VAR:-default}`` references in string values resolved from the ``environ`` passed in
   (``$${`` writes a literal ``${``).
3. Shape, field by field (msgspec stops at the first error of one ``convert`` call, so each field is
   converted alone and its error path joined to the field's), then what a type cannot say:
   cross-references, wildcards, ranges, URLs.

Every problem carries a dotted path with ``[i]`` indices, the way ``podium check`` prints it::

    routes.support.fallbacks[1]: unknown deployment 'gpt-5-mini'
    deployments["gpt-4.1"].modle: unknown field (did you mean 'model'?)

A name that is not a plain identifier (it has a dot, a space…) is quoted in brackets, as above.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

import msgspec
import yaml

from podium.config.caching import check_cache
from podium.config.credentials_check import check_credentials, resolve_credentials
from podium.config.governance import check_audit, check_identity
from podium.config.guardrails import check_guardrails
from podium.config.knowledge import check_knowledge
from podium.config.limits import check_limits
from podium.config.model import Config, Deployment, Provider, Route, Timeouts
from podium.config.observability import check_observability
from podium.config.routing import check_routing
from podium.errors import ConfigError, ConfigProblem

# A module, not its PRESETS: presets imports podium.config.model, so the name may not exist yet here.
from podium.providers import presets

__all__ = ["DEFAULT_CONFIG_PATH", "config_schema", "load_config", "parse_config", "validate_config"]

DEFAULT_CONFIG_PATH = Path("podium.yaml")

S = TypeVar("S", bound=msgspec.Struct)

# --------------------------------------------------------------------------- pass 1: YAML

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]  # the base is chosen at import time
    """The safe loader without timestamps: ``api_version: 2024-10-21`` must stay a string, not a date."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def _parse_yaml(text: str, source: str, problems: list[ConfigProblem]) -> object:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _find_duplicate_keys(node, "", problems, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = exc.problem or exc.context or "cannot parse"
        raise ConfigError([ConfigProblem("", f"{where}: invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem("", f"{source}: invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def _find_duplicate_keys(node: yaml.Node, path: str, problems: list[ConfigProblem], seen: set[int]) -> None:
    """PyYAML lets a repeated key silently replace the first; in a config that hides a mistake."""
    if id(node) in seen:  # an alias: already walked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines:
                problems.append(
                    ConfigProblem(
                        _join(path, key), f"duplicate key on line {line} (first on line {lines[key]})"
                    )
                )
            else:
                lines[key] = line
            _find_duplicate_keys(value_node, _join(path, key), problems, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicate_keys(item, f"{path}[{i}]", problems, seen)


# --------------------------------------------------------------------------- pass 2: ${VAR}

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _interpolate(
    data: object, path: str, environ: Mapping[str, str], problems: list[ConfigProblem]
) -> object:
    if isinstance(data, str):
        return _resolve(data, path, environ, problems) if "${" in data else data
    if isinstance(data, dict):
        return {k: _interpolate(v, _join(path, str(k)), environ, problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(data)]
    return data


def _resolve(text: str, path: str, environ: Mapping[str, str], problems: list[ConfigProblem]) -> str:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        inner = match.group(1)
        if inner is None:
            problems.append(ConfigProblem(path, "unterminated environment reference: '${' without '}'"))
            return ""
        name, has_default, default = inner.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            problems.append(
                ConfigProblem(
                    path, f"malformed environment reference '{whole}': use ${{NAME}} or ${{NAME:-default}}"
                )
            )
            return ""
        value = environ.get(name)
        if has_default:
            return value if value else default  # like the shell: unset or empty takes the default
        if value is None:
            problems.append(ConfigProblem(path, f"environment variable {name} is not set"))
            return ""
        return value

    return _REFERENCE.sub(replace, text)


# --------------------------------------------------------------------------- pass 3a: shape

_SECTIONS = ("providers", "deployments", "routes")


def _build(data: object, problems: list[ConfigProblem]) -> tuple[Config, dict[str, set[str]]]:
    """A Config of what could be read, and every name present in the file, for the checks of meaning.

    Each section item is read leniently (see :func:`_convert_struct`) so that one bad field does not
    hide the other problems of its item; cross-reference checks use the names present, so a reference
    to an item that is itself broken is not reported a second time as unknown.
    """
    names: dict[str, set[str]] = {s: set() for s in _SECTIONS}
    if data is None:
        return Config(), names
    if not isinstance(data, dict):
        problems.append(ConfigProblem("", f"the file must be a mapping of sections, not {_kind(data)}"))
        return Config(), names
    fields = {f.encode_name: f for f in msgspec.structs.fields(Config)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            problems.append(_unknown_field("", key, fields))
            continue
        if value is None:  # an empty section while editing: its defaults
            continue
        if key in _SECTIONS:
            item_type = get_args(_unwrap(field.type))[1]
            if not isinstance(value, dict):
                problems.append(ConfigProblem(key, f"expected a mapping of names, got {_kind(value)}"))
                continue
            items: dict[str, Any] = {}
            for name, item in value.items():
                if not isinstance(name, str):
                    problems.append(ConfigProblem(_join(key, str(name)), "a name must be a string"))
                    continue
                names[key].add(name)
                converted = _convert(item, item_type, _join(key, name), problems, lenient=True)
                if converted is not _FAILED:
                    items[name] = converted
            kwargs[field.name] = items
        else:
            converted = _convert(value, field.type, key, problems, lenient=True)
            if converted is not _FAILED:
                kwargs[field.name] = converted
    return Config(**kwargs), names


_FAILED: Any = object()  # what _convert returns for a value it could not read (its problems appended)


def _convert(
    value: object, tp: Any, path: str, problems: list[ConfigProblem], *, lenient: bool = False
) -> Any:
    """``value`` as type ``tp``, or ``_FAILED`` with the reasons appended to ``problems``."""
    tp = _unwrap(tp)
    struct = _struct_type(tp)
    if struct is not None and isinstance(value, dict):
        return _convert_struct(value, struct, path, problems, lenient=lenient)
    if get_origin(tp) is dict and isinstance(value, dict):
        value_type = get_args(tp)[1]
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(ConfigProblem(_join(path, str(key)), "a key must be a string"))
                out[str(key)] = _FAILED
                continue
            out[key] = _convert(item, value_type, _join(path, key), problems)
        return _FAILED if _FAILED in out.values() else out
    try:
        # Lax: a value that came from ``${PORT}`` is a string, and "8400" must still make an int.
        return msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        problems.append(_translate(exc, path, tp))
        return _FAILED


def _convert_struct(
    value: dict[Any, Any], cls: type[S], path: str, problems: list[ConfigProblem], *, lenient: bool
) -> S:
    """``cls`` from ``value``, field by field, so that every field's problem is reported.

    An unknown field is reported and skipped. Strict (nested records like ``price``): any unreadable
    field fails the whole record. Lenient (section items): an unreadable optional field takes its
    default, so the item's other fields still get their checks of meaning; the problem is already
    reported, so the configuration is refused anyway.
    """
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    kwargs: dict[str, Any] = {}
    failed = False
    for key, item in value.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            problems.append(_unknown_field(path, key, fields))
            continue
        converted = _convert(item, field.type, _join(path, key), problems)
        if converted is _FAILED:
            failed = failed or field.required or not lenient
        else:
            kwargs[field.name] = converted
    for key, field in fields.items():
        if field.required and key not in value:
            problems.append(ConfigProblem(_join(path, key), "required field is missing"))
            failed = True
    return _FAILED if failed else cls(**kwargs)


def _unknown_field(path: str, key: object, fields: Mapping[str, object]) -> ConfigProblem:
    message = "unknown field"
    if isinstance(key, str):
        close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.7)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        else:
            message += f"; expected one of: {', '.join(fields)}"
    return ConfigProblem(_join(path, str(key)), message)


_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<where>.*)`$", re.DOTALL)
_ENUM = re.compile(r"^Invalid enum value '(?P<value>.*)'$", re.DOTALL)
_TYPE_WORDS = {"array": "a list", "object": "a mapping", "null": "null"}


def _translate(exc: msgspec.ValidationError, path: str, tp: Any) -> ConfigProblem:
    """msgspec's ``Expected `int`, got `str` - at `$[1]``` as ``path[1]: expected int, got str``."""
    message = str(exc)
    where = ""
    at = _AT.match(message)
    if at:
        message, where = at.group("message"), at.group("where")
        if where.startswith("[...]"):  # a mapping key msgspec does not name
            where = where[len("[...]") :]
    enum = _ENUM.match(message)
    if enum:
        bad = enum.group("value")
        choices = _literal_choices(tp)
        message = f"'{bad}' is not one of: {', '.join(choices)}"
        close = difflib.get_close_matches(bad, choices, n=1, cutoff=0.7)
        if close:
            message = f"'{bad}' is not one of: {', '.join(choices)} (did you mean '{close[0]}'?)"
    else:
        message = re.sub(r"`([^`]*)`", lambda m: _TYPE_WORDS.get(m.group(1), m.group(1)), message)
        message = message[:1].lower() + message[1:]
    return ConfigProblem(path + where, message)


def _unwrap(tp: Any) -> Any:
    """The type inside ``Annotated[...]`` (the model annotates fields with descriptions)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    """``S`` for a field typed ``S`` or ``S | None``."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _struct_type(options[0])
    return None


def _literal_choices(tp: Any) -> list[str]:
    tp = _unwrap(tp)
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    for arg in get_args(tp):
        if arg is not Ellipsis:
            choices = _literal_choices(arg)
            if choices:
                return choices
    return []


# --------------------------------------------------------------------------- pass 3b: meaning

# "eu", "us-east-1", "westeurope", "eu_central": lowercase words joined by - or _.
_DEFAULT_TIMEOUTS = Timeouts()
_REGION = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")


def _check(config: Config, names: Mapping[str, set[str]]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    problems += _check_server(config)
    problems += _check_storage(config)
    problems += check_identity(config.identity) + check_audit(config.audit)
    for name, provider in config.providers.items():
        problems += _check_provider(_join("providers", name), name, provider)
    deployment_names = names["deployments"] | set(config.deployments)
    provider_names = names["providers"] | set(config.providers)
    for name, deployment in config.deployments.items():
        problems += _check_deployment(_join("deployments", name), name, deployment, provider_names)
    route_names = names["routes"] | set(config.routes)
    wildcard_prefixes = [d[:-1] for d in deployment_names if d.endswith("/*")]
    for name, route in config.routes.items():
        problems += _check_route(
            _join("routes", name), name, route, deployment_names, route_names, wildcard_prefixes
        )
    problems += check_routing(
        config,
        deployment_names,
        route_names,
        lambda ref: (
            (ref in deployment_names and not ref.endswith("/*"))
            or any(ref.startswith(p) and len(ref) > len(p) for p in wildcard_prefixes)
        ),
        _join,
    )

    def served(ref: str) -> bool:
        return (ref in deployment_names and not ref.endswith("/*")) or any(
            ref.startswith(p) and len(ref) > len(p) for p in wildcard_prefixes
        )

    problems += check_limits(config.limits, served, _join)
    problems += check_cache(config.cache, lambda ref: ref in route_names or served(ref), _join)
    problems += check_guardrails(
        config.guardrails,
        {n: p.type for n, p in config.providers.items()},
        lambda r: r in route_names or served(r),
        _join,
    )
    problems += check_knowledge(config.knowledge, lambda r: r in route_names or served(r), _join)
    problems += check_observability(
        config.observability,
        config.evaluation,
        config.alerting,
        lambda r: r in route_names or served(r),
        _join,
    )
    problems += _check_state(config)
    for name in sorted(names["routes"] & deployment_names):
        problems.append(
            ConfigProblem(
                _join("routes", name),
                f"'{name}' is also a deployment name; a public model name must mean one thing",
            )
        )
    return problems


def _check_state(config: Config) -> list[ConfigProblem]:
    s = config.state
    problems = []
    if s.redis_url is not None and urlsplit(s.redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.append(
            ConfigProblem(
                "state.redis_url", "must start with redis://, rediss:// or unix:// (redis://host:6379/0)"
            )
        )
    if s.timeout_ms <= 0:
        problems.append(ConfigProblem("state.timeout_ms", _positive(s.timeout_ms)))
    return problems


def _check_server(config: Config) -> list[ConfigProblem]:
    s = config.server
    problems = []
    if not s.host:
        problems.append(ConfigProblem("server.host", "must not be empty"))
    if not 0 <= s.port <= 65535:
        problems.append(ConfigProblem("server.port", f"must be between 0 and 65535, got {s.port}"))
    if s.max_body_bytes < 1:
        problems.append(ConfigProblem("server.max_body_bytes", _positive(s.max_body_bytes)))
    if s.drain_seconds < 0:
        problems.append(
            ConfigProblem("server.drain_seconds", f"must not be negative, got {_num(s.drain_seconds)}")
        )
    return problems


def _check_storage(config: Config) -> list[ConfigProblem]:
    s = config.storage
    problems = []
    if s.url is not None:
        scheme = s.url.partition("://")[0] if "://" in s.url else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            problems.append(
                ConfigProblem(
                    "storage.url",
                    "must start with sqlite:// (sqlite:///path/to/podium.db) "
                    "or postgresql:// (postgresql://user@host:5432/db)",
                )
            )
        elif scheme == "sqlite" and s.url in ("sqlite://", "sqlite:///"):
            problems.append(ConfigProblem("storage.url", "names no file: use sqlite:///path/to/podium.db"))
    for field in ("pool_size", "flush_interval_ms", "flush_batch_size"):
        value = getattr(s, field)
        if value < 1:
            problems.append(ConfigProblem(f"storage.{field}", _positive(value)))
    return problems


def _check_provider(path: str, name: str, p: Provider) -> list[ConfigProblem]:
    problems = []
    problems += _check_name(path, name)
    preset = presets.PRESETS[p.type]
    if p.base_url is None:
        # Vertex AI and Bedrock derive their endpoint from the region (checked with the credentials).
        if preset.base_url is None and preset.wire != "simulated" and p.type not in ("vertex", "bedrock"):
            problems.append(ConfigProblem(f"{path}.base_url", f"required for type '{p.type}'"))
    else:
        url = urlsplit(p.base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(
                ConfigProblem(f"{path}.base_url", f"must be an http:// or https:// URL, got '{p.base_url}'")
            )
    if p.type == "azure" and not p.api_version:
        problems.append(
            ConfigProblem(f"{path}.api_version", "required for type 'azure' (for example \"2024-10-21\")")
        )
    problems += check_credentials(path, p)
    if p.api_key is None:
        if preset.env_key is not None and not (p.type == "azure" and p.entra is not None):
            problems.append(
                ConfigProblem(
                    f"{path}.api_key", f"required for type '{p.type}' (usually \"${{{preset.env_key}}}\")"
                )
            )
    elif not p.api_key.strip():
        problems.append(
            ConfigProblem(f"{path}.api_key", "is empty; omit it for a provider that needs no key")
        )
    if p.max_connections < 1:
        problems.append(ConfigProblem(f"{path}.max_connections", _positive(p.max_connections)))
    if p.region is not None:
        problems += _check_region(f"{path}.region", p.region)
    return problems


def _check_deployment(path: str, name: str, d: Deployment, providers: set[str]) -> list[ConfigProblem]:
    problems = []
    problems += _check_name(path, name)
    wildcard_name = name.endswith("/*") and len(name) > 2
    if "*" in name and not wildcard_name:
        problems.append(
            ConfigProblem(path, "'*' may only end a wildcard deployment's name after a '/', as in 'openai/*'")
        )
    if wildcard_name and d.model != "*":
        problems.append(ConfigProblem(f"{path}.model", f"must be \"*\" in a wildcard deployment ('{name}')"))
    if d.model == "*" and not wildcard_name:
        problems.append(
            ConfigProblem(f"{path}.model", "\"*\" is only for a wildcard deployment, named like 'openai/*'")
        )
    if not d.model.strip():
        problems.append(ConfigProblem(f"{path}.model", "must not be empty"))
    if d.provider not in providers:
        problems.append(ConfigProblem(f"{path}.provider", _unknown("provider", d.provider, providers)))
    if not d.capabilities:
        problems.append(ConfigProblem(f"{path}.capabilities", "must list at least one capability"))
    seen: set[str] = set()
    for i, capability in enumerate(d.capabilities):
        if capability in seen:
            problems.append(ConfigProblem(f"{path}.capabilities[{i}]", f"'{capability}' is listed twice"))
        seen.add(capability)
    if d.context_window is not None and d.context_window < 1:
        problems.append(ConfigProblem(f"{path}.context_window", _positive(d.context_window)))
    if d.max_output_tokens is not None:
        if d.max_output_tokens < 1:
            problems.append(ConfigProblem(f"{path}.max_output_tokens", _positive(d.max_output_tokens)))
        elif d.context_window is not None and d.max_output_tokens > d.context_window:
            problems.append(
                ConfigProblem(
                    f"{path}.max_output_tokens",
                    f"{d.max_output_tokens} exceeds context_window ({d.context_window})",
                )
            )
    if d.price is not None:
        for field in ("input", "output", "cached_input", "cache_write"):
            value = getattr(d.price, field)
            if value is not None and value < 0:
                problems.append(
                    ConfigProblem(f"{path}.price.{field}", f"must not be negative, got {_num(value)}")
                )
    if d.region is not None:
        problems += _check_region(f"{path}.region", d.region)
    t = d.timeouts
    for field in ("connect", "first_token", "total"):
        value = getattr(t, field)
        if value <= 0:
            problems.append(ConfigProblem(f"{path}.timeouts.{field}", _positive(value)))
    for field in ("connect", "first_token"):
        value = getattr(t, field)
        # A default larger than a short ``total`` the operator chose is harmless: ``total`` bounds it.
        if 0 < t.total < value and value != getattr(_DEFAULT_TIMEOUTS, field):
            problems.append(
                ConfigProblem(
                    f"{path}.timeouts.{field}", f"{_num(value)} exceeds timeouts.total ({_num(t.total)})"
                )
            )
    return problems


def _check_route(
    path: str,
    name: str,
    route: Route,
    deployments: set[str],
    routes: set[str],
    wildcard_prefixes: list[str],
) -> list[ConfigProblem]:
    problems = []
    problems += _check_name(path, name)
    if not route.deployments:
        problems.append(ConfigProblem(f"{path}.deployments", "must list at least one deployment"))
    first_seen: dict[str, str] = {}
    for field, refs in (("deployments", route.deployments), ("fallbacks", route.fallbacks)):
        for i, ref in enumerate(refs):
            where = f"{path}.{field}[{i}]"
            if ref in first_seen:
                problems.append(ConfigProblem(where, f"'{ref}' is already listed at {first_seen[ref]}"))
                continue
            first_seen[ref] = where
            if ref in deployments:
                if ref.endswith("/*"):
                    problems.append(
                        ConfigProblem(
                            where,
                            f"'{ref}' is a wildcard; name one of its models, like '{ref[:-1]}<model>'",
                        )
                    )
                continue
            if any(ref.startswith(prefix) and len(ref) > len(prefix) for prefix in wildcard_prefixes):
                continue  # served by a wildcard deployment
            if ref in routes:
                what = f"route '{name}' refers to itself" if ref == name else f"'{ref}' is a route"
                problems.append(ConfigProblem(where, f"{what}; a route lists deployments, not other routes"))
                continue
            problems.append(ConfigProblem(where, _unknown("deployment", ref, deployments)))
    return problems


def _check_name(path: str, name: str) -> list[ConfigProblem]:
    if not name.strip():
        return [ConfigProblem(path, "a name must not be empty")]
    if any(c.isspace() for c in name):
        return [ConfigProblem(path, "a name must not contain spaces")]
    return []


def _check_region(path: str, region: str) -> list[ConfigProblem]:
    if _REGION.fullmatch(region):
        return []
    return [
        ConfigProblem(
            path, f"'{region}' is not a region name: lowercase words joined by '-', like 'eu-west-1'"
        )
    ]


def _unknown(kind: str, name: str, known: set[str]) -> str:
    message = f"unknown {kind} '{name}'"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
    return f"{message} (did you mean '{close[0]}'?)" if close else message


def _positive(value: float) -> str:
    return f"must be positive, got {_num(value)}"


def _num(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- helpers

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-/*:@]+")


def _join(path: str, key: str) -> str:
    segment = key if _PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key)}]"
    if not path:
        return segment
    return f"{path}{segment}" if segment.startswith("[") else f"{path}.{segment}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


# --------------------------------------------------------------------------- public API


def parse_config(text: str, *, source: str = "<config>", environ: Mapping[str, str]) -> Config:
    """The configuration in ``text``; raises :class:`ConfigError` listing every problem found.

    ``source`` names the text in a YAML syntax error (``podium.yaml:3:7: invalid YAML: …``).
    """
    problems: list[ConfigProblem] = []
    data = _parse_yaml(text, source, problems)
    before = len(problems)
    data = _interpolate(data, "", environ, problems)
    unresolved = {p.path for p in problems[before:]}  # an unset variable read as "": say only that
    config, names = _build(data, problems)
    config = resolve_credentials(config, environ, problems)
    problems += [p for p in _check(config, names) if p.path not in unresolved]
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: str | Path | None, *, environ: Mapping[str, str]) -> Config:
    """The configuration in the file at ``path`` (``./podium.yaml`` when ``None``); see :func:`parse_config`."""
    file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("", f"{file}: no such file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"{file}: not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"{file}: cannot read: {exc.strerror or exc}")]) from None
    return parse_config(text, source=str(file), environ=environ)


def validate_config(config: Config) -> Config:
    """``config`` itself if it passes the loader's checks of meaning; raises :class:`ConfigError` if not.

    For a :class:`Config` built in code (the embedded default, tests): its shape is the type's, so only
    cross-references, wildcards, ranges and URLs are checked.
    """
    names = {section: set(getattr(config, section)) for section in _SECTIONS}
    problems = _check(config, names)
    if problems:
        raise ConfigError(problems)
    return config


def _without_discriminators(node: Any) -> Any:
    """msgspec marks tagged unions (guardrail scanners) with OpenAPI's ``discriminator``, which is not
    JSON Schema; each member's ``type`` enum already tells them apart."""
    if isinstance(node, dict):
        return {k: _without_discriminators(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_without_discriminators(v) for v in node]
    return node


def config_schema() -> dict[str, Any]:
    """The JSON Schema of ``podium.yaml`` after ``${VAR}`` references are resolved (``podium schema``)."""
    schema = _without_discriminators(msgspec.json.schema(Config))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Podium configuration (podium.yaml)",
        "description": "Providers, deployments and routes of a Podium gateway (see docs/configuration.md).",
        **schema,
    }
