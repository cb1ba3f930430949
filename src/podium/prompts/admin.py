"""The admin API under ``/admin/prompts``: versions, labels, approvals, diffs, previews and metrics.

Reads need ``prompts:read``, changes ``prompts:write``; moving a protected label needs
``prompts:promote`` as well (checked by the registry, so the CLI follows the same rule), and deciding
an approval needs ``prompts:promote``. Everything is scoped to the caller's tenant. After a change the
serving replica syncs its mirror at once; the others follow within a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.errors import RequestError
from podium.gateway.http_io import read_json_body
from podium.gateway.permissions import admin_route, query_float
from podium.gateway.router import Route
from podium.identity.principal import Principal
from podium.prompts import registry
from podium.prompts.model import PromptRef, check_name, parse_ref
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelHistoryEntry,
    LabelRecord,
    LabelTarget,
    MessageTemplate,
    ModelSettings,
    PromptSpec,
    PromptVersionRecord,
    VariableSpec,
    VersionMetrics,
)

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "LabelMove", "NewVersion", "RenderRequest"]


class NewVersion(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new version: the content of a prompt file, a commit message, and (on POST /admin/prompts) its name."""

    name: str | None = None
    message: str = ""
    only_if_changed: bool = False  # true: content equal to the latest version creates nothing
    description: str | None = None
    template: str | None = None
    messages: tuple[MessageTemplate, ...] = ()
    variables: dict[str, VariableSpec] = {}
    config: ModelSettings = ModelSettings()

    def spec(self) -> PromptSpec:
        return PromptSpec(
            description=self.description,
            template=self.template,
            messages=self.messages,
            variables=self.variables,
            config=self.config,
        )


class SplitTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    weight: float


class LabelMove(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Point a label at one ``version``, or ``split`` traffic across versions by weight."""

    version: int | None = None
    split: tuple[SplitTarget, ...] | None = None
    note: str = ""


class RenderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Render a version (by ``label`` or ``version``; default ``production``) with ``variables``."""

    label: str | None = None
    version: int | None = None
    variables: dict[str, Any] = {}


def _actor(principal: Principal) -> registry.Actor:
    return registry.Actor(
        id=principal.actor, tenant=principal.tenant, may_promote=principal.can("prompts:promote")
    )


async def _body(gw: Gateway, request: web.BaseRequest, kind: type[Any], what: str) -> Any:
    raw = await read_json_body(request, gw.config.server.max_body_bytes)
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        text = str(exc)
        param = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
        raise RequestError(f"Invalid {what}: {text}", param=param) from None


def _ref(name: str, text: str | None, param: str) -> PromptRef:
    return parse_ref(name, text, param)


# --------------------------------------------------------------------------- prompts and versions


@admin_route("prompts:read")
async def list_prompts(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The tenant's prompts: latest version, description, labels."""
    return 200, {"object": "list", "data": await registry.list_prompts(gw.storage, principal.tenant)}


async def _create(gw: Gateway, principal: Principal, name: str, body: NewVersion) -> tuple[int, Any]:
    version, created = await registry.create_version(
        gw.storage,
        gw.config.prompts,
        _actor(principal),
        name,
        body.spec(),
        message=body.message,
        only_if_changed=body.only_if_changed,
        audit=gw.audit.submit,
    )
    await gw.prompts.sync()
    return (201 if created else 200), {
        "created": created,
        "id": f"{name}@v{version.number}",
        **_version(version),
    }


def _version(v: PromptVersionRecord) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.number,
        "message": v.message,
        "author": v.author,
        "created_at": v.created_at,
        "content_hash": v.content_hash,
        "spec": v.spec,
    }


@admin_route("prompts:write", body=NewVersion)
async def create_prompt(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Create a prompt's next version; the body names the prompt."""
    body: NewVersion = await _body(gw, request, NewVersion, "prompt version")
    if body.name is None:
        raise RequestError("`name` is required.", param="name")
    return await _create(gw, principal, check_name(body.name), body)


@admin_route("prompts:write", body=NewVersion)
async def create_version(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """Create the next version of the prompt in the path."""
    body: NewVersion = await _body(gw, request, NewVersion, "prompt version")
    if body.name is not None and body.name != name:
        raise RequestError(f"The body names '{body.name}' but the path '{name}'.", param="name")
    return await _create(gw, principal, check_name(name), body)


@admin_route("prompts:read")
async def get_prompt(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """A prompt: its labels and the list of its versions."""
    return 200, await registry.prompt_summary(gw.storage, principal.tenant, check_name(name))


@admin_route("prompts:read")
async def get_version(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str, ref: str
) -> tuple[int, Any]:
    """One version, by number (3 or v3), label, or 'latest'."""
    version = await registry.get_version(gw.storage, principal.tenant, _ref(name, ref, "ref"))
    return 200, _version(version)


@admin_route(
    "prompts:read", query=(("from", "a version, label or 'latest'"), ("to", "a version, label or 'latest'"))
)
async def diff(gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str) -> tuple[int, Any]:
    """A unified diff of two versions' templates and a field-by-field diff of the rest."""
    a, b = request.query.get("from"), request.query.get("to")
    if not a or not b:
        raise RequestError(
            "Give both `from` and `to` (versions, labels or 'latest').", param="from" if not a else "to"
        )
    return 200, await registry.diff_versions(
        gw.storage, principal.tenant, name, _ref(name, a, "from"), _ref(name, b, "to")
    )


@admin_route("prompts:read", body=RenderRequest)
async def render(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """Render a version with variables, as a request would, without calling a model."""
    body: RenderRequest = await _body(gw, request, RenderRequest, "render request")
    if body.label is not None and body.version is not None:
        raise RequestError("Give a label or a version, not both.", param="version")
    text = str(body.version) if body.version is not None else body.label
    return 200, await registry.render_preview(
        gw.storage, gw.config.prompts, principal.tenant, _ref(name, text, "label"), body.variables
    )


@admin_route(
    "prompts:read",
    response=list[VersionMetrics],
    query=(("since", "epoch seconds"), ("until", "epoch seconds")),
)
async def metrics(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """Per version, from the request log: requests, latency p50/p95, tokens, cost, error rate, guardrail blocks."""
    since, until = query_float(request, "since"), query_float(request, "until")
    data = await registry.version_metrics(
        gw.storage, principal.tenant, check_name(name), since=since, until=until
    )
    labels = await gw.storage.prompts.labels(principal.tenant, name)
    return 200, {
        "object": "list",
        "name": name,
        "since": since,
        "until": until,
        "labels": labels,
        "data": data,
    }


# --------------------------------------------------------------------------- labels


def _change(change: registry.LabelChange) -> tuple[int, Any]:
    if change.approval is not None:
        return 202, {"status": "pending_approval", "id": change.approval.id, "approval": change.approval}
    return 200, {"status": "moved", "label": change.label}


@admin_route("prompts:write", body=LabelMove, response=LabelRecord)
async def move_label(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str, label: str
) -> tuple[int, Any]:
    """Point a label at a version or a weighted split; a protected label may need approval (202)."""
    body: LabelMove = await _body(gw, request, LabelMove, "label move")
    if (body.version is None) == (body.split is None):
        raise RequestError("Give either `version` or `split`.", param="version")
    if body.version is not None:
        targets: tuple[LabelTarget, ...] = (LabelTarget(body.version, 100.0),)
    else:
        assert body.split is not None
        targets = tuple(LabelTarget(t.version, t.weight) for t in body.split)
    change = await registry.move_label(
        gw.storage,
        gw.config.prompts,
        _actor(principal),
        name,
        label,
        targets,
        note=body.note,
        audit=gw.audit.submit,
    )
    await gw.prompts.sync()
    return _change(change)


@admin_route("prompts:write")
async def remove_label(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str, label: str
) -> tuple[int, Any]:
    """Remove a label (a protected one follows the same rules as a move)."""
    change = await registry.move_label(
        gw.storage, gw.config.prompts, _actor(principal), name, label, (), audit=gw.audit.submit
    )
    await gw.prompts.sync()
    return _change(change)


@admin_route("prompts:write")
async def rollback_label(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str, label: str
) -> tuple[int, Any]:
    """Move a label back to where its last move took it from."""
    change = await registry.rollback_label(
        gw.storage, gw.config.prompts, _actor(principal), name, label, audit=gw.audit.submit
    )
    await gw.prompts.sync()
    return _change(change)


@admin_route("prompts:read", response=list[LabelHistoryEntry])
async def label_history(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str, label: str
) -> tuple[int, Any]:
    """A label's moves, newest first."""
    history = await gw.storage.prompts.label_history(principal.tenant, check_name(name), label)
    return 200, {"object": "list", "data": history}


# --------------------------------------------------------------------------- approvals


@admin_route(
    "prompts:read",
    response=list[ApprovalRecord],
    query=(("status", "pending, applied, rejected, superseded"), ("name", "one prompt")),
)
async def list_approvals(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Requested moves of protected labels, newest first."""
    status = request.query.get("status") or None
    if status not in (None, "pending", "applied", "rejected", "superseded"):
        raise RequestError("`status` is pending, applied, rejected or superseded.", param="status")
    data = await gw.storage.prompts.approvals(
        principal.tenant, name=request.query.get("name") or None, status=status
    )
    return 200, {"object": "list", "data": data}


@admin_route("prompts:promote", response=ApprovalRecord)
async def approve(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, approval_id: str
) -> tuple[int, Any]:
    """Approve a requested move (by a second, different person): the label moves now."""
    decided = await registry.approve(gw.storage, _actor(principal), approval_id, audit=gw.audit.submit)
    await gw.prompts.sync()
    return 200, decided


@admin_route("prompts:write", response=ApprovalRecord)
async def reject(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, approval_id: str
) -> tuple[int, Any]:
    """Reject a requested move (promote permission), or withdraw one's own request."""
    return 200, await registry.reject(gw.storage, _actor(principal), approval_id, audit=gw.audit.submit)


ROUTES = [
    Route("GET", "/admin/prompts", list_prompts),
    Route("POST", "/admin/prompts", create_prompt),
    Route("GET", "/admin/prompt-approvals", list_approvals),
    Route("POST", "/admin/prompt-approvals/{approval_id}/approve", approve),
    Route("POST", "/admin/prompt-approvals/{approval_id}/reject", reject),
    Route("GET", "/admin/prompts/{name}", get_prompt),
    Route("POST", "/admin/prompts/{name}/versions", create_version),
    Route("GET", "/admin/prompts/{name}/versions/{ref}", get_version),
    Route("GET", "/admin/prompts/{name}/diff", diff),
    Route("POST", "/admin/prompts/{name}/render", render),
    Route("GET", "/admin/prompts/{name}/metrics", metrics),
    Route("PUT", "/admin/prompts/{name}/labels/{label}", move_label),
    Route("DELETE", "/admin/prompts/{name}/labels/{label}", remove_label),
    Route("POST", "/admin/prompts/{name}/labels/{label}/rollback", rollback_label),
    Route("GET", "/admin/prompts/{name}/labels/{label}/history", label_history),
]
