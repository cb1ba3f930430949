"""Cache keys: a hash of the normalised request and the tenant, and what decides whether to cache.

Normalised means that two requests that must get the same answer get the same key: fields that do
not change the answer (``stream``, ``user``, ``metadata``) are left out, a message whose content is
text parts equals the same text as a string, and JSON objects (tool parameters, schemas, extra
fields) are hashed with their keys sorted. The tenant is part of every key, so tenants never see
each other's answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec
from multidict import CIMultiDictProxy

from podium.canonical import ChatRequest, EmbeddingRequest, Message, TextPart
from podium.config.caching import CacheSettings

__all__ = ["Directive", "Policies", "Policy", "chat_key", "directive", "embedding_key", "semantic_scope"]

_encoder = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class Policy:
    """The cache settings for one public model name."""

    exact: bool
    semantic: bool
    ttl_ms: int
    threshold: float
    deterministic_only: bool


class Policies:
    """The effective :class:`Policy` of each model name (``None`` when no cache applies), memoised."""

    def __init__(self, settings: CacheSettings) -> None:
        self.settings = settings
        self._memo: dict[str, Policy | None] = {}
        self.any = (
            settings.exact
            or settings.semantic
            or any(rc.exact or rc.semantic for rc in settings.routes.values())
        )
        self.any_semantic = settings.semantic or any(rc.semantic for rc in settings.routes.values())

    def of(self, model: str) -> Policy | None:
        try:
            return self._memo[model]
        except KeyError:
            pass
        s = self.settings
        rc = s.routes.get(model)

        def pick(name: str) -> object:
            value = getattr(rc, name) if rc is not None else None
            return getattr(s, name) if value is None else value

        exact, semantic = bool(pick("exact")), bool(pick("semantic"))
        policy = None
        if exact or semantic:
            policy = Policy(
                exact=exact or semantic,  # a semantic hit is served from the exact entry it points to
                semantic=semantic,
                ttl_ms=int(float(pick("ttl_seconds")) * 1000),  # type: ignore[arg-type]
                threshold=float(pick("threshold")),  # type: ignore[arg-type]
                deterministic_only=bool(pick("deterministic_only")),
            )
        if len(self._memo) > 10_000:  # wildcard names are open-ended
            self._memo.clear()
        self._memo[model] = policy
        return policy


@dataclass(frozen=True, slots=True)
class Directive:
    """What the caller allows for this request: look the answer up, store it, or both."""

    lookup: bool
    store: bool


_BOTH = Directive(lookup=True, store=True)


def directive(headers: CIMultiDictProxy[str]) -> Directive:
    """``cache-control: no-cache`` (store, don't look up), ``no-store`` (neither), or
    ``x-podium-cache: off`` (neither) / ``refresh`` (store, don't look up)."""
    lookup = store = True
    control = headers.get("cache-control")
    if control is not None:
        words = {w.strip().lower() for w in control.split(",")}
        if "no-store" in words:
            lookup = store = False
        elif "no-cache" in words:
            lookup = False
    ours = headers.get("x-podium-cache")
    if ours is not None:
        ours = ours.strip().lower()
        if ours == "off":
            lookup = store = False
        elif ours == "refresh":
            lookup = False
    return _BOTH if lookup and store else Directive(lookup=lookup, store=store)


def deterministic(request: ChatRequest) -> bool:
    return request.temperature == 0 or request.seed is not None


def _message(m: Message) -> Message:
    if isinstance(m.content, tuple) and all(isinstance(p, TextPart) for p in m.content):
        return msgspec.structs.replace(m, content="".join(p.text for p in m.content))  # type: ignore[union-attr]
    return m


def _normal(request: ChatRequest, messages: tuple[Message, ...]) -> ChatRequest:
    return msgspec.structs.replace(
        request, stream=False, user=None, metadata=None, messages=tuple(_message(m) for m in messages)
    )


def _digest(kind: bytes, tenant: str, payload: bytes) -> str:
    h = hashlib.blake2b(kind, digest_size=20)
    h.update(tenant.encode())
    h.update(b"\x00")
    h.update(payload)
    return h.hexdigest()


def chat_key(tenant: str, request: ChatRequest) -> str:
    return "cache:c:" + _digest(b"c", tenant, _encoder.encode(_normal(request, request.messages)))


def embedding_key(tenant: str, request: EmbeddingRequest) -> str:
    return "cache:e:" + _digest(b"e", tenant, _encoder.encode(msgspec.structs.replace(request, user=None)))


def semantic_scope(tenant: str, request: ChatRequest) -> tuple[str, str] | None:
    """``(scope, text)``: everything but the last user message, hashed, and that message's text.

    Two requests may share a semantic hit only within one scope (same tenant, model, settings,
    system prompt and earlier turns); ``None`` when the request does not end with a user's text.
    """
    if not request.messages:
        return None
    last = request.messages[-1]
    text = last.text()
    if last.role != "user" or not text.strip():
        return None
    rest = _normal(request, request.messages[:-1])
    return _digest(b"s", tenant, _encoder.encode(rest)), text
