"""The admin API for the audit trail: read the caller's tenant's entries, export them as JSON Lines,
verify the chain, list and make signed checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.audit.checkpoints import Signer, make_checkpoint
from podium.audit.verify import entries, verify_chain
from podium.errors import RequestError
from podium.gateway.permissions import Raw, admin_route, query_int, query_limit
from podium.gateway.router import Route
from podium.identity.principal import Principal
from podium.storage.audit_records import AuditCheckpoint, AuditEntry

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES"]

EXPORT_LIMIT = 100_000


class VerifyReport(msgspec.Struct, frozen=True):
    ok: bool
    checked: int
    head_seq: int
    checkpoints_checked: int
    first_bad_seq: int | None
    reason: str | None


@admin_route(
    "audit:read",
    response=list[AuditEntry],
    query=(
        ("before", "entries with a smaller seq (the previous page's last seq)"),
        ("limit", "1 to 1000 (default 50)"),
    ),
)
async def list_audit(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's audit entries, newest first."""
    limit = query_limit(request, 50)
    await gw.audit.flush()
    found = await gw.storage.audit.recent(
        tenant=principal.tenant, before=query_int(request, "before"), limit=limit
    )
    return 200, {"object": "list", "data": found}


@admin_route(
    "audit:export",
    audit_reads=True,
    content_type="application/x-ndjson",
    query=(("after", "entries with a larger seq (resume an export)"),),
)
async def export_audit(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's audit entries as JSON Lines, oldest first, for a SIEM."""
    await gw.audit.flush()
    lines: list[bytes] = []
    async for entry in entries(
        gw.storage.audit, tenant=principal.tenant, after=query_int(request, "after") or 0
    ):
        lines.append(msgspec.json.encode(entry))
        if len(lines) >= EXPORT_LIMIT:
            break
    return 200, Raw(b"".join(line + b"\n" for line in lines), "application/x-ndjson")


@admin_route("audit:export", response=VerifyReport)
async def verify_audit(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Check the whole chain (hashes, server-key macs, checkpoints); name the first bad entry."""
    await gw.audit.flush()
    report = await verify_chain(gw.storage.audit, gw.governance.audit_key)
    problem = report.problem
    return 200, VerifyReport(
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq,
        checkpoints_checked=report.checkpoints_checked,
        first_bad_seq=problem.seq if problem else None,
        reason=problem.reason if problem else None,
    )


@admin_route("audit:read", response=list[AuditCheckpoint])
async def list_checkpoints(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Signed checkpoints of the chain head; keep copies elsewhere."""
    return 200, {"object": "list", "data": await gw.storage.audit.checkpoints()}


@admin_route("audit:export", response=AuditCheckpoint)
async def create_checkpoint(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Sign the chain head now and return the checkpoint (200 with the latest one if the head has one)."""
    await gw.audit.flush()
    made = await make_checkpoint(gw.storage.audit, _signer(gw))
    if made is not None:
        return 201, made
    stored = await gw.storage.audit.checkpoints()
    if not stored:
        raise RequestError("The audit trail is empty: there is nothing to checkpoint yet.")
    return 200, stored[-1]


def _signer(gw: Gateway) -> Signer:
    assert gw.governance.signer is not None  # set when the gateway started
    return gw.governance.signer


ROUTES = [
    Route("GET", "/admin/audit", list_audit),
    Route("GET", "/admin/audit/export", export_audit),
    Route("POST", "/admin/audit/verify", verify_audit),
    Route("GET", "/admin/audit/checkpoints", list_checkpoints),
    Route("POST", "/admin/audit/checkpoints", create_checkpoint),
]
