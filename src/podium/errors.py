"""Podium's one exception tree.

Every error knows the HTTP status it answers with and the wire error ``type`` / ``code`` it carries,
so an edge (OpenAI, and later Anthropic) maps any of them to its own error body in one line::

    PodiumError                       status, type, code, message
    ├── ConfigError                   the operator's mistake: every problem with its config path
    ├── RequestError            400   the caller's mistake (malformed JSON, ill-typed field, …)
    │   ├── BodyTooLarge        413
    │   ├── UnsupportedMediaType 415
    │   ├── MethodNotAllowed    405
    │   ├── UnknownModel        404   no route or deployment by that name
    │   └── UnsupportedFeature  400   the request uses a feature the chosen provider cannot express
    ├── AuthenticationError     401   missing, unknown, expired or revoked key
    ├── PermissionDenied        403   the key may not use that model or resource
    ├── NotFound                404   an admin resource that does not exist
    ├── Conflict                409   an admin resource that exists already
    ├── RateLimited             429   a Podium limit (carries Retry-After)
    ├── GuardrailBlocked        400/422   a guardrail policy refused the request (400) or the answer (422)
    ├── GuardrailUnavailable    503   a fail-closed guardrail could not run (it failed or timed out)
    ├── StorageUnavailable      503   the database cannot be opened or reached (podium.storage.base)
    └── ProviderError           502   an upstream failed; ``retryable`` and ``retry_after`` kept
        ├── UpstreamTimeout     504   connect, first-token or total deadline passed
        ├── UpstreamConnectionError 502   refused, reset, closed mid-stream
        ├── UpstreamProtocolError   502   the upstream answered something that is not its protocol
        └── UpstreamStatusError   4xx/5xx  the upstream answered with an error status

Upstream statuses are not forwarded blindly (see docs/decisions/0004-upstream-errors.md): a 401 from a
provider means Podium's credentials are wrong, which the caller can neither see nor fix, so it becomes
a 502 that says so; a 429 stays a 429 with the upstream's Retry-After; a 400 stays a 400 with the
upstream's message, since it is about the request the caller sent.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BodyTooLarge",
    "ConfigError",
    "ConfigProblem",
    "Conflict",
    "GuardrailBlocked",
    "GuardrailUnavailable",
    "MethodNotAllowed",
    "NotFound",
    "PermissionDenied",
    "PodiumError",
    "ProviderError",
    "RateLimited",
    "RequestError",
    "UnknownModel",
    "UnsupportedFeature",
    "UnsupportedMediaType",
    "UpstreamConnectionError",
    "UpstreamProtocolError",
    "UpstreamStatusError",
    "UpstreamTimeout",
]

from dataclasses import dataclass


class PodiumError(Exception):
    """Base of every error Podium raises on purpose."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    @property
    def error_class(self) -> str:
        """A short stable name for the request record (``upstream_timeout``, ``rate_limited``…)."""
        return self.code or self.type


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(PodiumError):
    """The configuration cannot be used; ``problems`` lists every one found, each with its path."""

    status = 500
    type = "config_error"

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or "invalid configuration")


class RequestError(PodiumError):
    status = 400
    type = "invalid_request_error"


class BodyTooLarge(RequestError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"


class UnknownModel(RequestError):
    status = 404
    code = "model_not_found"


class UnsupportedFeature(RequestError):
    """A request field the chosen provider's API cannot express: refused by name, never dropped.

    Raised by an adapter before any network call. It is about the request, not the upstream, so the
    executor does not fall back on it: the caller learns which feature and which provider.
    """

    code = "unsupported_feature"


class AuthenticationError(PodiumError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(PodiumError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(PodiumError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(PodiumError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class RateLimited(PodiumError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class GuardrailBlocked(PodiumError):
    """A guardrail policy refused the request (400) or the model's answer (422).

    The message names the policy and the kinds of finding (``EMAIL``, ``PROMPT_INJECTION``), never the
    matched text.
    """

    status = 400
    type = "invalid_request_error"
    code = "guardrail_blocked"

    def __init__(self, message: str, *, policy: str, kinds: tuple[str, ...], stage: str = "input") -> None:
        super().__init__(message)
        self.policy = policy
        self.kinds = kinds
        self.stage = stage
        if stage == "output":
            self.status = 422


class GuardrailUnavailable(PodiumError):
    """A guardrail whose policy says fail-closed could not run: it raised, or its timeout passed."""

    status = 503
    type = "server_error"
    code = "guardrail_unavailable"

    def __init__(self, message: str, *, policy: str, scanner: str) -> None:
        super().__init__(message)
        self.policy = policy
        self.scanner = scanner


class ProviderError(PodiumError):
    """An upstream call failed. ``retryable`` says whether another attempt (or deployment) may help."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        deployment: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.deployment = deployment
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class UpstreamTimeout(ProviderError):
    status = 504
    code = "upstream_timeout"


class UpstreamConnectionError(ProviderError):
    code = "upstream_connection_error"


class UpstreamProtocolError(ProviderError):
    code = "upstream_protocol_error"


class UpstreamStatusError(ProviderError):
    """The upstream answered an HTTP error; ``upstream_status`` and its message are kept."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        deployment: str | None = None,
        retry_after: float | None = None,
        upstream_code: str | None = None,
    ) -> None:
        status, code, retryable = _classify_upstream_status(upstream_status)
        if status == 400:
            # Two refusals a designated deployment may still answer (routes' on_context_overflow and
            # on_content_policy): recognised by the upstream's error code or, failing that, its wording.
            code = _request_refusal(upstream_code, message) or code
        super().__init__(
            message, deployment=deployment, retry_after=retry_after, retryable=retryable, code=code
        )
        self.status = status
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code
        if status == 400:
            self.type = "invalid_request_error"
        elif status == 429:
            self.type = "rate_limit_error"


_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length", "context_window_exceeded"})
_CONTEXT_WORDS = (
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
)
_POLICY_CODES = frozenset(
    {"content_policy_violation", "content_filter", "safety", "responsible_ai_policy_violation"}
)
_POLICY_WORDS = ("content management policy", "content policy", "safety system", "content filter")


def _request_refusal(upstream_code: str | None, message: str) -> str | None:
    """``context_length_exceeded`` or ``content_policy_violation`` for an upstream 400 that is one."""
    code = (upstream_code or "").lower()
    text = message.lower()
    if code in _CONTEXT_CODES or any(w in text for w in _CONTEXT_WORDS):
        return "context_length_exceeded"
    if code in _POLICY_CODES or any(w in text for w in _POLICY_WORDS):
        return "content_policy_violation"
    return None


def _classify_upstream_status(upstream: int) -> tuple[int, str, bool]:
    """(status for the caller, error code, retryable) for an upstream HTTP error status."""
    if upstream == 429:
        return 429, "upstream_rate_limited", True
    if upstream in (401, 403):
        return 502, "upstream_authentication_error", False
    if upstream == 404:
        return 502, "upstream_not_found", False
    if upstream == 408:
        return 504, "upstream_timeout", True
    if upstream == 413:
        return 413, "upstream_body_too_large", False
    if upstream == 529 or upstream == 503:
        return 503, "upstream_overloaded", True
    if 400 <= upstream < 500:
        return 400, "upstream_rejected_request", False
    return 502, "upstream_server_error", True
