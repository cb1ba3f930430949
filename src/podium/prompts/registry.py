"""The prompt registry as a service: the functions the admin API and the CLI both call, on storage.

Who acts is an :class:`Actor` — the audit trail's name for them, their tenant, and whether they hold
``prompts:promote``; each caller checks ``prompts:read`` / ``prompts:write`` itself (the admin API
through its route table). Protected labels (``prompts.protected_labels``) are enforced here, so the
CLI and the API follow the same rules: moving one needs the promote permission and, with
``prompts.require_approval``, becomes a request that a second, different person approves.

Every change is reported to ``audit`` (``prompt.version.create``, ``prompt.label.move``,
``prompt.label.request``, ``prompt.approval.approve`` / ``reject``) when a sink is given.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from podium.config.prompts import PromptSettings
from podium.errors import Conflict, NotFound, PermissionDenied, RequestError
from podium.prompts.model import (
    LATEST,
    PromptRef,
    check_label,
    check_name,
    check_spec,
    check_targets,
    content_hash,
)
from podium.prompts.template import RenderLimits
from podium.storage.audit_records import AuditEvent
from podium.storage.base import Storage
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelRecord,
    LabelTarget,
    PromptSpec,
    PromptVersionRecord,
    VersionMetrics,
)

__all__ = [
    "Actor",
    "AuditSink",
    "LabelChange",
    "approve",
    "create_version",
    "diff_versions",
    "get_version",
    "limits_of",
    "list_prompts",
    "move_label",
    "prompt_summary",
    "reject",
    "render_preview",
    "rollback_label",
    "version_metrics",
]

AuditSink = Callable[[AuditEvent], None]


@dataclass(frozen=True, slots=True)
class Actor:
    id: str  # as the audit trail names them: "key:key_…", "user:usr_…", "cli:alice"
    tenant: str
    may_promote: bool


@dataclass(frozen=True, slots=True)
class LabelChange:
    """What a label move did: moved it (``label``), or asked for approval (``approval``)."""

    label: LabelRecord | None = None
    approval: ApprovalRecord | None = None


def limits_of(settings: PromptSettings) -> RenderLimits:
    return RenderLimits(max_output_chars=settings.max_output_chars, max_steps=settings.max_render_steps)


def _audit(sink: AuditSink | None, actor: Actor, action: str, name: str, **details: Any) -> None:
    if sink is not None:
        sink(
            AuditEvent(
                time=time.time(),
                tenant=actor.tenant,
                actor=actor.id,
                action=action,
                resource=f"prompt:{name}",
                details=details,
            )
        )


def _targets_text(targets: Sequence[LabelTarget]) -> list[list[float]]:
    return [[t.version, t.weight] for t in targets]


# --------------------------------------------------------------------------- versions


async def create_version(
    storage: Storage,
    settings: PromptSettings,
    actor: Actor,
    name: str,
    spec: PromptSpec,
    *,
    message: str = "",
    only_if_changed: bool = False,
    audit: AuditSink | None = None,
) -> tuple[PromptVersionRecord, bool]:
    """Check ``spec`` (it must compile) and store it as ``name``'s next version; ``(version, created)``.

    With ``only_if_changed``, content equal to the latest version's creates nothing.
    """
    check_name(name)
    check_spec(spec, limits_of(settings))
    record = PromptVersionRecord(
        tenant=actor.tenant,
        name=name,
        spec=spec,
        content_hash=content_hash(spec),
        message=message,
        author=actor.id,
        created_at=time.time(),
    )
    stored, created = await storage.prompts.add_version(record, only_if_changed=only_if_changed)
    if created:
        _audit(
            audit,
            actor,
            "prompt.version.create",
            name,
            version=stored.number,
            content_hash=stored.content_hash,
            message=message,
        )
    return stored, created


async def _labels(storage: Storage, tenant: str, name: str) -> dict[str, LabelRecord]:
    return {label.label: label for label in await storage.prompts.labels(tenant, name)}


async def get_version(storage: Storage, tenant: str, ref: PromptRef) -> PromptVersionRecord:
    """The version a reference names; for a split label, the version with the largest share."""
    store = storage.prompts
    number = ref.version
    if number is None:
        assert ref.label is not None
        if ref.label == LATEST:
            versions = await store.versions(tenant, ref.name)
            if not versions:
                raise NotFound(f"No prompt named '{ref.name}'.")
            return versions[-1]
        label = (await _labels(storage, tenant, ref.name)).get(ref.label)
        if label is None:
            raise NotFound(f"Prompt '{ref.name}' has no label '{ref.label}'.")
        number = max(label.targets, key=lambda t: t.weight).version
    found = await store.get_version(tenant, ref.name, number)
    if found is None:
        raise NotFound(f"Prompt '{ref.name}' has no version {number}.")
    return found


async def list_prompts(storage: Storage, tenant: str) -> list[dict[str, Any]]:
    """Each prompt of the tenant: latest version, description, labels."""
    out = []
    for latest in await storage.prompts.latest_versions(tenant):
        labels = await storage.prompts.labels(tenant, latest.name)
        out.append(
            {
                "name": latest.name,
                "latest_version": latest.number,
                "description": latest.spec.description,
                "updated_at": latest.created_at,
                "labels": {label.label: _targets_text(label.targets) for label in labels},
            }
        )
    return out


async def prompt_summary(storage: Storage, tenant: str, name: str) -> dict[str, Any]:
    versions = await storage.prompts.versions(tenant, name)
    if not versions:
        raise NotFound(f"No prompt named '{name}'.")
    labels = await storage.prompts.labels(tenant, name)
    return {
        "name": name,
        "latest_version": versions[-1].number,
        "description": versions[-1].spec.description,
        "labels": labels,
        "versions": [
            {
                "version": v.number,
                "message": v.message,
                "author": v.author,
                "created_at": v.created_at,
                "content_hash": v.content_hash,
            }
            for v in versions
        ],
    }


# --------------------------------------------------------------------------- diff


def _templates(spec: PromptSpec) -> list[str]:
    lines = []
    if spec.template is not None:
        lines.extend(["[template]", *spec.template.splitlines()])
    for i, m in enumerate(spec.messages):
        lines.extend([f"[messages[{i}] {m.role}]", *m.content.splitlines()])
    return lines


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    else:
        out[path] = value


def diff_specs(old: PromptVersionRecord, new: PromptVersionRecord) -> dict[str, Any]:
    """A unified diff of the templates, and a field-by-field diff of everything else."""
    template_diff = "\n".join(
        difflib.unified_diff(
            _templates(old.spec),
            _templates(new.spec),
            fromfile=f"{old.name}@v{old.number}",
            tofile=f"{new.name}@v{new.number}",
            lineterm="",
        )
    )
    flat_old: dict[str, Any] = {}
    flat_new: dict[str, Any] = {}
    for spec, flat in ((old.spec, flat_old), (new.spec, flat_new)):
        data = msgspec.to_builtins(spec)
        data.pop("template", None)
        data.pop("messages", None)
        _flatten(data, "", flat)
    changes = [
        {"path": path, "from": flat_old.get(path), "to": flat_new.get(path)}
        for path in sorted(flat_old.keys() | flat_new.keys())
        if flat_old.get(path, msgspec.UNSET) != flat_new.get(path, msgspec.UNSET)
    ]
    return {
        "name": new.name,
        "from": old.number,
        "to": new.number,
        "template_diff": template_diff,
        "changes": changes,
    }


async def diff_versions(
    storage: Storage, tenant: str, name: str, a: PromptRef, b: PromptRef
) -> dict[str, Any]:
    return diff_specs(await get_version(storage, tenant, a), await get_version(storage, tenant, b))


# --------------------------------------------------------------------------- labels


def _protected(settings: PromptSettings, label: str) -> bool:
    return label in settings.protected_labels


async def move_label(
    storage: Storage,
    settings: PromptSettings,
    actor: Actor,
    name: str,
    label: str,
    targets: tuple[LabelTarget, ...],
    *,
    note: str = "",
    expected_rev: int | None = None,
    audit: AuditSink | None = None,
) -> LabelChange:
    """Point ``label`` at ``targets`` (empty: remove it), or ask for approval if it is protected."""
    check_name(name)
    check_label(label)
    if targets:
        check_targets(targets)
        for target in targets:
            if await storage.prompts.get_version(actor.tenant, name, target.version) is None:
                raise NotFound(f"Prompt '{name}' has no version {target.version}.")
    current = (await _labels(storage, actor.tenant, name)).get(label)
    if not targets and current is None:
        raise NotFound(f"Prompt '{name}' has no label '{label}'.")
    if current is not None and current.targets == targets:
        return LabelChange(label=current)  # already there: nothing to move, nothing to approve
    if _protected(settings, label):
        if not actor.may_promote:
            raise PermissionDenied(
                f"'{label}' is a protected label: moving it needs the 'prompts:promote' permission.",
                code="permission_denied",
            )
        if settings.require_approval:
            approval = await storage.prompts.create_approval(
                ApprovalRecord(
                    id="apr_" + os.urandom(8).hex(),
                    tenant=actor.tenant,
                    name=name,
                    label=label,
                    targets=targets,
                    base_rev=current.rev if current else 0,
                    requested_by=actor.id,
                    requested_at=time.time(),
                    note=note,
                )
            )
            _audit(
                audit,
                actor,
                "prompt.label.request",
                name,
                label=label,
                approval=approval.id,
                to=_targets_text(targets),
                previous=_targets_text(current.targets) if current else [],
            )
            return LabelChange(approval=approval)
    record = LabelRecord(
        tenant=actor.tenant,
        name=name,
        label=label,
        targets=targets,
        updated_at=time.time(),
        updated_by=actor.id,
    )
    try:
        stored = await storage.prompts.set_label(record, expected_rev=expected_rev)
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    _audit(
        audit,
        actor,
        "prompt.label.move",
        name,
        label=label,
        to=_targets_text(targets),
        previous=_targets_text(current.targets) if current else [],
        note=note,
    )
    return LabelChange(label=stored)


async def rollback_label(
    storage: Storage,
    settings: PromptSettings,
    actor: Actor,
    name: str,
    label: str,
    *,
    audit: AuditSink | None = None,
) -> LabelChange:
    """Move ``label`` back to where its last move took it from (the same rules as any move)."""
    check_label(label)
    history = await storage.prompts.label_history(actor.tenant, name, label, limit=1)
    if not history:
        raise NotFound(f"Prompt '{name}' has no label '{label}'.")
    last = history[0]
    if not last.previous:
        raise Conflict(f"Label '{label}' of prompt '{name}' has no earlier position to roll back to.")
    return await move_label(
        storage,
        settings,
        actor,
        name,
        label,
        last.previous,
        note=f"rollback of rev {last.rev}",
        expected_rev=None if _protected(settings, label) and settings.require_approval else last.rev,
        audit=audit,
    )


async def _pending(storage: Storage, actor: Actor, approval_id: str) -> ApprovalRecord:
    approval = await storage.prompts.get_approval(approval_id)
    if approval is None or approval.tenant != actor.tenant:
        raise NotFound(f"No approval with id '{approval_id}'.")
    if approval.status != "pending":
        raise Conflict(f"Approval '{approval_id}' was {approval.status} already.")
    if not actor.may_promote:
        raise PermissionDenied(
            "Deciding a label move needs the 'prompts:promote' permission.", code="permission_denied"
        )
    return approval


async def approve(
    storage: Storage, actor: Actor, approval_id: str, *, audit: AuditSink | None = None
) -> ApprovalRecord:
    """A second, different person approves a requested move: it is applied if the label has not moved."""
    approval = await _pending(storage, actor, approval_id)
    if approval.requested_by == actor.id:
        raise PermissionDenied(
            "A label move must be approved by a second, different person than the one who requested it.",
            code="approval_by_requester",
        )
    decided = await storage.prompts.decide_approval(
        approval_id, approve=True, decided_by=actor.id, at=time.time()
    )
    assert decided is not None
    _audit(
        audit,
        actor,
        "prompt.approval.approve",
        approval.name,
        approval=approval_id,
        label=approval.label,
        to=_targets_text(approval.targets),
        requested_by=approval.requested_by,
        status=decided.status,
    )
    if decided.status == "superseded":
        raise Conflict(
            f"Label '{approval.label}' of prompt '{approval.name}' moved after this request; request the move again.",
            code="approval_superseded",
        )
    if decided.status != "applied":
        raise Conflict(f"Approval '{approval_id}' was {decided.status} already.")
    return decided


async def reject(
    storage: Storage, actor: Actor, approval_id: str, *, audit: AuditSink | None = None
) -> ApprovalRecord:
    """Refuse a requested move (the requester may withdraw their own)."""
    approval = await storage.prompts.get_approval(approval_id)
    if approval is None or approval.tenant != actor.tenant:
        raise NotFound(f"No approval with id '{approval_id}'.")
    if approval.requested_by != actor.id:
        approval = await _pending(storage, actor, approval_id)
    elif approval.status != "pending":
        raise Conflict(f"Approval '{approval_id}' was {approval.status} already.")
    decided = await storage.prompts.decide_approval(
        approval_id, approve=False, decided_by=actor.id, at=time.time()
    )
    assert decided is not None
    _audit(audit, actor, "prompt.approval.reject", approval.name, approval=approval_id, label=approval.label)
    return decided


# --------------------------------------------------------------------------- preview and metrics


async def render_preview(
    storage: Storage,
    settings: PromptSettings,
    tenant: str,
    ref: PromptRef,
    variables: dict[str, Any] | None,
) -> dict[str, Any]:
    """Render a version as a request would (variables checked the same way), without calling a model."""
    version = await get_version(storage, tenant, ref)
    compiled = check_spec(version.spec, limits_of(settings))
    messages = compiled.render(variables)
    return {
        "name": version.name,
        "version": version.number,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "config": version.spec.config,
    }


async def version_metrics(
    storage: Storage, tenant: str, name: str, *, since: float | None = None, until: float | None = None
) -> list[VersionMetrics]:
    if since is not None and until is not None and since >= until:
        raise RequestError("'since' must be before 'until'.", param="since")
    return await storage.prompts.version_metrics(tenant, name, since=since, until=until)
