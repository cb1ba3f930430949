"""Guardrails on the request path: policies built from the config, and the pipeline step that runs them.

:class:`Guardrails` is built once per configuration (scanners, models and compiled patterns included)
and picks each call's policy: the key's own ``guardrail_policy`` (set through the admin API), else the
config's ``guardrails.keys`` entry for its id or name, else its model's ``guardrails.routes`` entry, else
``guardrails.default``; ``none`` means no guardrails. Without any policy configured it adds no step.

The step runs the input stage before the rest of the path (cache, router, executor) and wraps the
answer that comes back in the output stage (:class:`~podium.guardrails.stream.OutputGuard`). Verdicts
go on the :class:`~podium.gateway.call.Call` (``call.guardrails``): the request record and the audit
trail read them from there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from podium.canonical import Event
from podium.config.guardrails import (
    NO_POLICY,
    GuardrailSettings,
    InjectionScannerConfig,
    JsonSchemaScannerConfig,
    MaxLengthScannerConfig,
    ModerationScannerConfig,
    PiiScannerConfig,
    PolicyConfig,
    ProviderModerationScannerConfig,
    RegexScannerConfig,
    ScannerConfig,
    scanner_type,
)
from podium.config.model import Config
from podium.errors import GuardrailUnavailable
from podium.gateway.call import Call, Primed
from podium.gateway.pipeline import Handler, Step
from podium.guardrails.policy import Policy, Spec
from podium.guardrails.scanner import LocalScanner, Scanner
from podium.guardrails.stream import OutputGuard
from podium.providers.http import ClientPool
from podium.storage.records import GuardrailVerdict

__all__ = ["Guardrails", "build_policy", "strongest_action"]

_ALL_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_DEFAULT_ROLES: dict[str, frozenset[str]] = {
    "pii": _ALL_ROLES,
    "injection": frozenset({"user", "tool"}),  # what the caller typed, and what tools brought back
    "moderation": frozenset({"user"}),
    "provider_moderation": frozenset({"user"}),
    "regex": _ALL_ROLES,
    "max_length": _ALL_ROLES,
    "json_schema": _ALL_ROLES,
}


def _scanner(cfg: ScannerConfig, config: Config, pool: ClientPool | None) -> Scanner:
    from podium.guardrails import moderation, output
    from podium.guardrails.injection import InjectionScanner
    from podium.guardrails.pii import PATTERN_ENTITIES, PiiScanner

    match cfg:
        case PiiScannerConfig():
            return PiiScanner(
                cfg.entities if cfg.entities is not None else PATTERN_ENTITIES,
                phone_regions=cfg.phone_regions,
                min_score=cfg.min_score,
            )
        case InjectionScannerConfig():
            return InjectionScanner(
                threshold=cfg.threshold, heuristics=cfg.heuristics, classifier=cfg.classifier
            )
        case ModerationScannerConfig():
            return moderation.ModerationScanner(threshold=cfg.threshold, deny=cfg.deny, topics=cfg.topics)
        case ProviderModerationScannerConfig():
            from podium.providers.presets import PRESETS

            provider = config.providers[cfg.provider]
            preset = PRESETS[provider.type]
            base_url = provider.base_url or preset.base_url
            assert base_url is not None and pool is not None
            headers = dict(provider.headers)
            if provider.api_key and preset.auth == "api-key":
                headers["api-key"] = provider.api_key
            elif provider.api_key:
                headers["Authorization"] = f"Bearer {provider.api_key}"
            return moderation.ProviderModerationScanner(
                session=pool.session(base_url, max_connections=provider.max_connections),
                base_url=base_url,
                headers=headers,
                model=cfg.model,
                threshold=cfg.threshold,
                categories=cfg.categories,
            )
        case RegexScannerConfig():
            return output.RegexScanner(patterns=cfg.patterns, deny=cfg.deny)
        case JsonSchemaScannerConfig():
            return output.JsonSchemaScanner(schema=cfg.schema, repair=cfg.repair)
        case MaxLengthScannerConfig():
            return output.MaxLengthScanner(limit=cfg.limit)
    raise AssertionError(f"no scanner for {cfg!r}")  # pragma: no cover - the union is exhaustive


def _spec(cfg: ScannerConfig, config: Config, pool: ClientPool | None, taken: set[str]) -> Spec:
    kind = scanner_type(cfg)
    scanner = _scanner(cfg, config, pool)
    name = cfg.name or kind
    n = 2
    while name in taken:  # two unnamed scanners of one type: pii, pii_2
        name = f"{cfg.name or kind}_{n}"
        n += 1
    taken.add(name)
    return Spec(
        name=name,
        kind=kind,
        scanner=scanner,
        action=cfg.action,
        timeout=cfg.timeout_ms / 1000,
        fail_closed=cfg.on_error == "closed",
        max_chars=cfg.max_chars,
        on_oversize=cfg.on_oversize,
        on_binary=cfg.on_binary,
        roles=frozenset(cfg.roles) if cfg.roles is not None else _DEFAULT_ROLES[kind],
        local=scanner if isinstance(scanner, LocalScanner) else None,
        whole_text=bool(getattr(scanner, "whole_text", False)),
    )


def _flatten(
    settings: GuardrailSettings, name: str, seen: tuple[str, ...] = ()
) -> list[tuple[str, PolicyConfig]]:
    """The policy and everything it extends, parents first, each once."""
    policy = settings.policies[name]
    out: list[tuple[str, PolicyConfig]] = []
    for parent in policy.extends:
        if parent not in seen:
            out += [p for p in _flatten(settings, parent, (*seen, name)) if p[0] not in {q[0] for q in out}]
    return [*out, (name, policy)]


def build_policy(config: Config, name: str, pool: ClientPool | None = None) -> Policy:
    """The runnable policy ``name`` of ``config`` (whose loader checks have passed)."""
    inputs: list[Spec] = []
    outputs: list[Spec] = []
    taken_in: set[str] = set()
    taken_out: set[str] = set()
    for _, policy in _flatten(config.guardrails, name):
        inputs += [_spec(s, config, pool, taken_in) for s in policy.input]
        outputs += [_spec(s, config, pool, taken_out) for s in policy.output]
    return Policy(name=name, input=tuple(inputs), output=tuple(outputs))


class Guardrails:
    """The configuration's policies, ready to run, and which one applies to a call."""

    def __init__(self, config: Config, pool: ClientPool | None = None) -> None:
        settings = config.guardrails
        self.policies = {name: build_policy(config, name, pool) for name in settings.policies}
        self.default = settings.default
        self.routes = dict(settings.routes)
        self.keys = dict(settings.keys)
        self.active = bool(self.policies)

    def policy_for(self, call: Call) -> Policy | None:
        key = call.principal
        name = key.guardrail_policy or self.keys.get(key.id) or self.keys.get(key.name)
        if name is None:
            name = self.routes.get(call.model, self.default)
        if name is None or name == NO_POLICY:
            return None
        policy = self.policies.get(name)
        if policy is None:
            # A key names a policy this configuration does not define: refuse rather than run unguarded.
            raise GuardrailUnavailable(
                f"This key's guardrail policy '{name}' is not defined in the gateway's configuration.",
                policy=name,
                scanner="-",
            )
        return policy

    def steps(self, api: str) -> list[Step]:
        """The guardrail step for the ``api`` pipeline; none when no policy is configured."""
        return [self.step] if self.active else []

    async def step(self, call: Call, call_next: Handler) -> Any:
        policy = self.policy_for(call)
        if policy is None:
            return await call_next(call)
        outcome, verdicts, stage = await policy.check_input(call.chat, call.embedding)
        call.guardrails = verdicts
        stage.raise_if_refused("the request")
        call.chat, call.embedding = outcome.chat, outcome.embedding
        answer = await call_next(call)
        if call.chat is None or not isinstance(answer, Primed) or (not policy.output and not outcome.mapping):
            return answer

        def record(output: tuple[GuardrailVerdict, ...]) -> None:
            call.guardrails = (*call.guardrails, *output)

        guard = OutputGuard(policy, call.chat, outcome.mapping, record)
        rest = cast(AsyncIterator[Event], answer.rest)
        if call.chat.stream and not policy.buffers_output:
            stream = guard.stream(answer.first, rest)
            return Primed(first=await anext(stream), rest=stream)
        events = [answer.first]
        events += [e async for e in rest]
        request = call.chat

        async def repair(again: Any) -> list[Event]:
            call.chat = again
            try:
                primed = await call_next(call)
            finally:
                call.chat = request
            more = cast(AsyncIterator[Event], primed.rest)
            return [primed.first, *[e async for e in more]]

        judged = await guard.whole(events, repair)
        return Primed(first=judged[0], rest=_replay(judged[1:]))


_STRENGTH = {"flag": 1, "redact": 2, "pseudonymize": 3, "block": 4}


def strongest_action(verdicts: tuple[GuardrailVerdict, ...]) -> str | None:
    """The request record's ``guardrail_action``: block > pseudonymize > redact > flag; None if none acted."""
    best = max((v.action for v in verdicts if v.action in _STRENGTH), key=_STRENGTH.__getitem__, default=None)
    return best


async def _replay(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event
