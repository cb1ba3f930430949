"""The ``guardrails`` section of ``podium.yaml``: scanners composed into policies, and where they apply.

::

    guardrails:
      default: standard               # for every request no route or key says otherwise
      routes: {support: strict}       # public model name -> policy ("none": no guardrails)
      keys: {ci-bot: none}            # key id or key name -> policy (a key's own policy wins)
      policies:
        standard:
          input:
            - type: pii
              action: pseudonymize    # the model sees <EMAIL_1>; the caller's answer has the email back
            - type: injection
              action: block
          output:
            - type: pii
              entities: [SECRET]
              action: redact
        strict:
          extends: [standard]
          input:
            - type: moderation
              deny: [project falcon]

See docs/guardrails.md. The checks of meaning (actions a scanner supports, known entities, patterns
that compile, schemas that are schemas, policies that exist) are :func:`check_guardrails`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = [
    "GuardrailSettings",
    "InjectionScannerConfig",
    "JsonSchemaScannerConfig",
    "MaxLengthScannerConfig",
    "ModerationScannerConfig",
    "PiiScannerConfig",
    "PolicyConfig",
    "ProviderModerationScannerConfig",
    "RegexScannerConfig",
    "ScannerConfig",
    "check_guardrails",
]

# Enumerations are checked by check_guardrails rather than typed as Literals: its message names the
# values a scanner of that type accepts, and the JSON Schema still lists them for editors.
ACTIONS_ALL = ("block", "redact", "pseudonymize", "flag")
ROLES = ("system", "developer", "user", "assistant", "tool")
ON_ERROR = ("open", "closed")
ON_OVERSIZE = ("block", "skip", "truncate")
ON_BINARY = ("block", "skip", "scan")
NO_POLICY = "none"


def _enum(values: tuple[str, ...], description: str) -> Meta:
    return Meta(description=description, extra_json_schema={"enum": list(values)})


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class _Scanner(_Section, frozen=True, tag_field="type"):
    name: Annotated[
        str | None, Meta(description="How verdicts and errors name this scanner; its type when omitted.")
    ] = None
    action: Annotated[
        str,
        _enum(
            ACTIONS_ALL, "What a finding does: block the request, redact or pseudonymize it, or only flag it."
        ),
    ] = "block"
    timeout_ms: Annotated[float, Meta(description="The scanner's time budget per request.")] = 200.0
    on_error: Annotated[
        str,
        _enum(
            ON_ERROR,
            "When the scanner fails or times out: 'open' lets the request through, 'closed' refuses it.",
        ),
    ] = "closed"
    max_chars: Annotated[int, Meta(description="The longest text this scanner reads.")] = 1_000_000
    on_oversize: Annotated[
        str,
        _enum(
            ON_OVERSIZE,
            "A longer text: refuse it, leave it unscanned, or scan its first max_chars characters.",
        ),
    ] = "block"
    on_binary: Annotated[
        str,
        _enum(
            ON_BINARY,
            "Text that looks binary (control characters, NUL bytes): refuse, leave unscanned, or scan.",
        ),
    ] = "scan"
    roles: Annotated[
        tuple[str, ...] | None,
        Meta(
            description="Input stage: the messages scanned, by role (system, developer, user, assistant, tool); "
            "each scanner type has its own default."
        ),
    ] = None


class PiiScannerConfig(_Scanner, frozen=True, kw_only=True, tag="pii"):
    """Personal data and secrets: checksummed numbers, emails, phones, IPs, dates of birth, API keys."""

    entities: Annotated[
        tuple[str, ...] | None,
        Meta(
            description="Entity types (EMAIL, PHONE, CREDIT_CARD, IBAN, NATIONAL_ID, SECRET…); all pattern types when omitted."
        ),
    ] = None
    phone_regions: Annotated[
        tuple[str, ...],
        Meta(
            description="Countries (ISO codes) whose national phone formats are recognised; +-prefixed numbers always are."
        ),
    ] = ("US", "GB", "DE", "FR")
    min_score: Annotated[float, Meta(description="NER findings scoring lower are ignored.")] = 0.5


class InjectionScannerConfig(_Scanner, frozen=True, kw_only=True, tag="injection"):
    """Prompt injection and jailbreaks: rules and a small classifier; user input and tool results."""

    threshold: Annotated[
        float | None,
        Meta(description="Scores at or above are findings; the classifier's trained threshold when omitted."),
    ] = None
    heuristics: Annotated[bool, Meta(description="Apply the hand-written rules.")] = True
    classifier: Annotated[bool, Meta(description="Apply the trained classifier.")] = True


class ModerationScannerConfig(_Scanner, frozen=True, kw_only=True, tag="moderation"):
    """A local toxicity model and keyword / topic deny-lists."""

    threshold: Annotated[
        float | None,
        Meta(
            description="Toxicity probability at or above which text is a finding; null turns the model off."
        ),
    ] = 0.8
    deny: Annotated[
        tuple[str, ...], Meta(description="Words or phrases never allowed (case-insensitive, whole words).")
    ] = ()
    topics: Annotated[
        dict[str, tuple[str, ...]],
        Meta(description="Denied topics, each a list of words or phrases that signal it."),
    ] = {}


class ProviderModerationScannerConfig(_Scanner, frozen=True, kw_only=True, tag="provider_moderation"):
    """Delegation to a provider's moderation endpoint (OpenAI's ``/moderations`` shape)."""

    provider: Annotated[str, Meta(description="A provider in `providers` whose API has /moderations.")]
    model: Annotated[str, Meta(description="The moderation model.")] = "omni-moderation-latest"
    threshold: Annotated[
        float | None,
        Meta(
            description="A category scoring at least this is a finding; the provider's own flags when omitted."
        ),
    ] = None
    categories: Annotated[
        tuple[str, ...],
        Meta(description="Only these categories count (hate, violence, self-harm…); all when empty."),
    ] = ()
    timeout_ms: Annotated[float, Meta(description="The scanner's time budget per request.")] = 2000.0


class RegexScannerConfig(_Scanner, frozen=True, kw_only=True, tag="regex"):
    """Regular expressions and deny-listed words, each match a finding."""

    patterns: Annotated[
        dict[str, str],
        Meta(description="Named regular expressions (Python syntax); the name is the finding's kind."),
    ] = {}
    deny: Annotated[
        tuple[str, ...], Meta(description="Words or phrases never allowed (case-insensitive, whole words).")
    ] = ()


class JsonSchemaScannerConfig(_Scanner, frozen=True, kw_only=True, tag="json_schema"):
    """Output: the answer must be JSON valid against a schema (the request's own by default)."""

    schema: Annotated[
        dict[str, Any] | None,
        Meta(description="A JSON Schema (draft 7); the request's response_format schema when omitted."),
    ] = None
    repair: Annotated[
        bool,
        Meta(description="Ask the model once more, quoting the validation error, before the action applies."),
    ] = False


class MaxLengthScannerConfig(_Scanner, frozen=True, kw_only=True, tag="max_length"):
    """A text longer than ``limit`` characters is a finding."""

    limit: Annotated[int, Meta(description="The most characters allowed.")]


ScannerConfig = (
    PiiScannerConfig
    | InjectionScannerConfig
    | ModerationScannerConfig
    | ProviderModerationScannerConfig
    | RegexScannerConfig
    | JsonSchemaScannerConfig
    | MaxLengthScannerConfig
)


class PolicyConfig(_Section, frozen=True):
    """Scanners for the request (``input``) and the answer (``output``); ``extends`` adds other policies'."""

    description: Annotated[str | None, Meta(description="Shown in listings.")] = None
    extends: Annotated[
        tuple[str, ...], Meta(description="Policies whose scanners run too, before this policy's own.")
    ] = ()
    input: Annotated[tuple[ScannerConfig, ...], Meta(description="Scanners of the request's messages.")] = ()
    output: Annotated[tuple[ScannerConfig, ...], Meta(description="Scanners of the model's answer.")] = ()


class GuardrailSettings(_Section, frozen=True):
    """Guardrail policies and where they apply: a key's policy, else its route's, else the default."""

    policies: Annotated[dict[str, PolicyConfig], Meta(description="Policies by name.")] = {}
    default: Annotated[
        str | None, Meta(description="The policy of every request that no key or route attaches one to.")
    ] = None
    routes: Annotated[
        dict[str, str],
        Meta(description="Public model name (route or deployment) -> policy; 'none' for no guardrails."),
    ] = {}
    keys: Annotated[
        dict[str, str],
        Meta(
            description="Key id or key name -> policy; a key's own guardrail_policy (admin API) wins over this."
        ),
    ] = {}


# --------------------------------------------------------------------------- checks of meaning

# scanner type -> (actions on input, actions on output)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pii": (("block", "redact", "pseudonymize", "flag"), ("block", "redact", "flag")),
    "injection": (("block", "flag"), ("block", "flag")),
    "moderation": (("block", "redact", "flag"), ("block", "redact", "flag")),
    "provider_moderation": (("block", "flag"), ("block", "flag")),
    "regex": (("block", "redact", "flag"), ("block", "redact", "flag")),
    "json_schema": ((), ("block", "flag")),
    "max_length": (("block", "flag"), ("block", "flag")),
}
_POLICY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


def scanner_type(scanner: ScannerConfig) -> str:
    return str(type(scanner).__struct_config__.tag)


def check_guardrails(
    settings: GuardrailSettings,
    providers: dict[str, str],
    is_public_model: Callable[[str], bool],
    join: Callable[[str, str], str],
) -> list[ConfigProblem]:
    """Every problem of the ``guardrails`` section.

    ``providers`` maps provider names to their type; ``join`` builds a config path from a name the way
    the loader prints it (quoted when it is not a plain identifier).
    """
    problems: list[ConfigProblem] = []
    known = set(settings.policies)
    for name, policy in settings.policies.items():
        path = join("guardrails.policies", name)
        if name == NO_POLICY:
            problems.append(
                ConfigProblem(path, f"'{NO_POLICY}' means no guardrails; name the policy otherwise")
            )
        elif not _POLICY_NAME.fullmatch(name):
            problems.append(ConfigProblem(path, "a policy name is letters, digits, '_', '-' and '.'"))
        for i, parent in enumerate(policy.extends):
            if parent not in known:
                problems.append(ConfigProblem(f"{path}.extends[{i}]", _unknown_policy(parent, known)))
        for stage in ("input", "output"):
            for i, scanner in enumerate(getattr(policy, stage)):
                problems += _check_scanner(f"{path}.{stage}[{i}]", scanner, stage, providers)
    problems += _check_cycles(settings, join)
    if settings.default is not None and settings.default not in known | {NO_POLICY}:
        problems.append(ConfigProblem("guardrails.default", _unknown_policy(settings.default, known)))
    for model, policy_name in settings.routes.items():
        where = join("guardrails.routes", model)
        if policy_name not in known | {NO_POLICY}:
            problems.append(ConfigProblem(where, _unknown_policy(policy_name, known)))
        if not is_public_model(model):
            problems.append(ConfigProblem(where, f"'{model}' is neither a route nor a deployment"))
    for key, policy_name in settings.keys.items():
        if policy_name not in known | {NO_POLICY}:
            problems.append(ConfigProblem(join("guardrails.keys", key), _unknown_policy(policy_name, known)))
    return problems


def _unknown_policy(name: str, known: set[str]) -> str:
    import difflib

    message = f"unknown policy '{name}'"
    if not known:
        return f"{message}: no policy could be read (see guardrails.policies) or none is defined"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
    return (
        f"{message} (did you mean '{close[0]}'?)"
        if close
        else f"{message}; define it under guardrails.policies"
    )


def _check_cycles(settings: GuardrailSettings, join: Callable[[str, str], str]) -> list[ConfigProblem]:
    problems = []
    for start in settings.policies:
        stack, seen = [start], set()
        while stack:
            name = stack.pop()
            for parent in settings.policies.get(name, PolicyConfig()).extends:
                if parent == start:
                    problems.append(
                        ConfigProblem(
                            join("guardrails.policies", start) + ".extends",
                            f"'{start}' extends itself through '{name}'",
                        )
                    )
                    stack.clear()
                    break
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
    return problems


def _check_scanner(path: str, s: ScannerConfig, stage: str, providers: dict[str, str]) -> list[ConfigProblem]:
    problems = []
    kind = scanner_type(s)
    allowed = ACTIONS[kind][0 if stage == "input" else 1]
    if not allowed:
        problems.append(
            ConfigProblem(path, f"a '{kind}' scanner checks the model's answer: put it under output")
        )
    elif s.action not in allowed:
        problems.append(
            ConfigProblem(
                f"{path}.action", f"a '{kind}' scanner on {stage} can {', '.join(allowed)}, not '{s.action}'"
            )
        )
    for field, values in (("on_error", ON_ERROR), ("on_oversize", ON_OVERSIZE), ("on_binary", ON_BINARY)):
        value = getattr(s, field)
        if value not in values:
            problems.append(ConfigProblem(f"{path}.{field}", f"'{value}' is not one of: {', '.join(values)}"))
    for i, role in enumerate(s.roles or ()):
        if role not in ROLES:
            problems.append(
                ConfigProblem(f"{path}.roles[{i}]", f"'{role}' is not one of: {', '.join(ROLES)}")
            )
    if s.timeout_ms <= 0:
        problems.append(ConfigProblem(f"{path}.timeout_ms", f"must be positive, got {s.timeout_ms:g}"))
    if s.max_chars < 1:
        problems.append(ConfigProblem(f"{path}.max_chars", f"must be positive, got {s.max_chars}"))
    if s.name is not None and not _KIND.fullmatch(s.name):
        problems.append(ConfigProblem(f"{path}.name", "letters, digits and '_', starting with a letter"))
    threshold = getattr(s, "threshold", None)
    if isinstance(threshold, float | int) and not 0 <= threshold <= 1:
        problems.append(ConfigProblem(f"{path}.threshold", f"must be between 0 and 1, got {threshold:g}"))
    match s:
        case PiiScannerConfig():
            problems += _check_pii(path, s)
        case ProviderModerationScannerConfig():
            from podium.providers.presets import PRESETS

            provider_type = providers.get(s.provider)
            preset = PRESETS.get(provider_type) if provider_type is not None else None  # type: ignore[call-overload]
            if provider_type is None:
                problems.append(ConfigProblem(f"{path}.provider", f"unknown provider '{s.provider}'"))
            elif preset is None or preset.wire != "openai":
                problems.append(
                    ConfigProblem(
                        f"{path}.provider",
                        f"provider '{s.provider}' ({provider_type}) has no OpenAI-style /moderations endpoint",
                    )
                )
        case RegexScannerConfig():
            if not s.patterns and not s.deny:
                problems.append(ConfigProblem(path, "a regex scanner needs patterns or deny"))
            for name, pattern in s.patterns.items():
                if not _KIND.fullmatch(name):
                    problems.append(
                        ConfigProblem(
                            f"{path}.patterns.{name}",
                            "a pattern's name is its finding's kind: letters, digits, '_'",
                        )
                    )
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(
                        ConfigProblem(f"{path}.patterns.{name}", f"not a regular expression: {exc}")
                    )
        case JsonSchemaScannerConfig():
            if s.schema is not None:
                problems += _check_schema(f"{path}.schema", s.schema)
        case MaxLengthScannerConfig():
            if s.limit < 1:
                problems.append(ConfigProblem(f"{path}.limit", f"must be positive, got {s.limit}"))
        case ModerationScannerConfig():
            for topic, words in s.topics.items():
                if not words:
                    problems.append(
                        ConfigProblem(f"{path}.topics.{topic}", "list at least one word or phrase")
                    )
        case _:
            pass
    return problems


def _check_pii(path: str, s: PiiScannerConfig) -> list[ConfigProblem]:
    from podium.guardrails.pii import ENTITIES, ENTITY_GROUPS, NER_ENTITIES

    problems = []
    names = set(ENTITIES) | set(ENTITY_GROUPS)
    for i, entity in enumerate(s.entities or ()):
        if entity not in names:
            problems.append(
                ConfigProblem(
                    f"{path}.entities[{i}]", f"unknown entity '{entity}'; one of: {', '.join(sorted(names))}"
                )
            )
        elif entity in NER_ENTITIES:
            from podium.guardrails.pii.ner import ner_available

            missing = ner_available()
            if missing is not None:
                problems.append(
                    ConfigProblem(f"{path}.entities[{i}]", f"'{entity}' needs a NER model: {missing}")
                )
    import phonenumbers

    for i, region in enumerate(s.phone_regions):
        if region not in phonenumbers.SUPPORTED_REGIONS:
            problems.append(
                ConfigProblem(f"{path}.phone_regions[{i}]", f"'{region}' is not a country code (US, GB, DE…)")
            )
    if s.entities is not None and not s.entities:
        problems.append(ConfigProblem(f"{path}.entities", "list at least one entity, or omit it for all"))
    return problems


def _check_schema(path: str, schema: dict[str, Any]) -> list[ConfigProblem]:
    import fastjsonschema

    try:
        fastjsonschema.compile(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError, KeyError) as exc:
        return [ConfigProblem(path, f"not a valid JSON Schema: {exc}")]
    return []
