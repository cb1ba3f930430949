"""The events Podium records: admin changes, refused access, and model calls."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import msgspec

from podium.identity.principal import Principal
from podium.storage.audit_records import AuditEvent

if TYPE_CHECKING:
    from podium.collect import Collector
    from podium.errors import PodiumError
    from podium.gateway.call import Call
    from podium.storage.records import RequestRecord

__all__ = ["admin_event", "denied_event", "model_call_event", "sha256_hex"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def admin_event(
    principal: Principal,
    *,
    action: str,
    resource: str,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    at: float | None = None,
) -> AuditEvent:
    return AuditEvent(
        time=at or time.time(),
        tenant=principal.tenant,
        actor=principal.actor,
        action=action,
        resource=resource,
        outcome=outcome,
        details={"roles": list(principal.roles), **(details or {})},
    )


def denied_event(
    *,
    tenant: str,
    actor: str,
    action: str,
    resource: str,
    error: PodiumError,
    remote: str | None,
) -> AuditEvent:
    """A refused request: a forged or expired token, a missing permission, another tenant's resource."""
    return AuditEvent(
        time=time.time(),
        tenant=tenant,
        actor=actor,
        action=action,
        resource=resource,
        outcome="denied",
        details={"status": error.status, "code": error.code, "reason": error.message, "remote": remote},
    )


def model_call_event(
    record: RequestRecord, call: Call, collector: Collector | None, *, content: bool
) -> AuditEvent:
    """A model call, from its finished request record. Hashes of prompt and completion always; their
    text only when the tenant opted in (``content``). Built in the recorder's worker thread."""
    prompt: bytes
    if call.chat is not None:
        prompt = msgspec.json.encode(call.chat.messages)
    elif call.embedding is not None:
        prompt = msgspec.json.encode(call.embedding.inputs)
    else:
        prompt = b""
    completion = collector.output_text() if collector is not None else ""
    details: dict[str, Any] = {
        "request_id": record.id,
        "api": record.api,
        "route": record.route,
        "deployment": record.deployment,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": record.cost_usd,
        "latency_ms": record.latency_ms,
        "error_class": record.error_class,
        "prompt_sha256": sha256_hex(prompt),
        "completion_sha256": sha256_hex(completion.encode()),
        "verdicts": _verdicts(call),
    }
    if content:
        details["prompt"] = prompt.decode()
        details["completion"] = completion
    return AuditEvent(
        time=record.created_at,
        tenant=record.tenant,
        actor=f"key:{record.key_id}" if record.key_id else "anonymous",
        action="model.call",
        resource=f"model:{record.requested_model}",
        outcome=str(record.status),
        details=details,
    )


def _verdicts(call: Call) -> list[Any]:
    """Policy verdicts (guardrails) the call collected, as plain data; none when guardrails are off."""
    return [msgspec.to_builtins(v) for v in call.guardrails]
