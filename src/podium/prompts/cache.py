"""Every replica's in-memory mirror of the registry: versions (compiled), labels, weights.

Filled at start and kept in sync by polling ``changes_since`` every half second — the same scheme as
API keys (docs/decisions/0005) — so resolving and rendering a prompt never waits on I/O, and a label
moved anywhere (another replica, the CLI) is followed everywhere within a second. The replica that
made a change syncs at once. A version is compiled once, when a label first points at it or when a
request first names it, and kept.

A label that splits traffic picks a version by a stable hash of the caller's sticky key (the
request's ``user``, else the ``x-podium-session`` header, else the API key), so one user keeps
seeing one version while the split stands.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from podium.canonical import JsonSchemaFormat, Tool
from podium.config.prompts import PromptSettings
from podium.errors import UnknownModel
from podium.prompts.model import LATEST, PromptRef
from podium.prompts.template import CompiledPrompt, RenderLimits, Sandbox
from podium.storage.base import PromptStore
from podium.storage.prompt_records import LabelRecord, PromptChanges, PromptVersionRecord

__all__ = ["SYNC_INTERVAL_SECONDS", "CachedVersion", "PromptCache", "choose"]

log = logging.getLogger("podium.prompts")

SYNC_INTERVAL_SECONDS = 0.5
_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class CachedVersion:
    """A version ready for the request path: compiled, with its model settings in canonical form."""

    record: PromptVersionRecord
    prompt: CompiledPrompt
    model: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    response_format: Any  # None, "json_object" or a JsonSchemaFormat, as ChatRequest holds it
    tools: tuple[Tool, ...]
    tool_choice: str | None

    @classmethod
    def build(cls, record: PromptVersionRecord, env: Sandbox, limits: RenderLimits) -> CachedVersion:
        config = record.spec.config
        response_format: Any = None
        rf = config.response_format
        if rf is not None and rf.type == "json_object":
            response_format = "json_object"
        elif rf is not None and rf.json_schema is not None:
            js = rf.json_schema
            response_format = JsonSchemaFormat(
                name=js.name, schema=js.schema, strict=js.strict, description=js.description
            )
        return cls(
            record=record,
            prompt=CompiledPrompt(record.spec, env, limits),
            model=config.model,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            response_format=response_format,
            tools=tuple(
                Tool(name=t.name, description=t.description, parameters=t.parameters, strict=t.strict)
                for t in config.tools
            ),
            tool_choice=config.tool_choice,
        )


@dataclass(frozen=True, slots=True)
class _Label:
    versions: tuple[int, ...]
    bounds: tuple[float, ...]  # cumulative weights
    total: float

    @classmethod
    def of(cls, record: LabelRecord) -> _Label:
        bounds: list[float] = []
        total = 0.0
        for target in record.targets:
            total += target.weight
            bounds.append(total)
        return cls(tuple(t.version for t in record.targets), tuple(bounds), total)


def choose(versions: tuple[int, ...], bounds: tuple[float, ...], total: float, key: str) -> int:
    """The version a sticky ``key`` gets under a weighted split: the same one every time."""
    if len(versions) == 1:
        return versions[0]
    point = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / _SCALE * total
    return versions[min(bisect.bisect_right(bounds, point), len(versions) - 1)]


class PromptCache:
    def __init__(self, store: PromptStore, settings: PromptSettings | None = None) -> None:
        self._store = store
        self._env = Sandbox()
        self._limits = RenderLimits()
        self._records: dict[tuple[str, str, int], PromptVersionRecord] = {}
        self._ready: dict[tuple[str, str, int], CachedVersion] = {}
        self._labels: dict[tuple[str, str, str], _Label] = {}
        self._latest: dict[tuple[str, str], int] = {}
        self._rev = 0
        self._lock = asyncio.Lock()
        self.last_sync = 0.0
        if settings is not None:
            self.configure(settings)

    def configure(self, settings: PromptSettings) -> None:
        """New rendering limits (a reload): versions compile again, lazily, under them."""
        limits = RenderLimits(max_output_chars=settings.max_output_chars, max_steps=settings.max_render_steps)
        if limits != self._limits:
            self._limits = limits
            self._ready = {}

    # ------------------------------------------------------------------ sync

    async def sync(self) -> None:
        async with self._lock:  # the poller and a local change may sync at once: apply each rev once
            changes = await self._store.changes_since(self._rev)
            self._apply(changes)
        self.last_sync = time.monotonic()

    def _apply(self, changes: PromptChanges) -> None:
        for version in changes.versions:
            key = (version.tenant, version.name, version.number)
            self._records[key] = version
            latest = (version.tenant, version.name)
            if version.number > self._latest.get(latest, 0):
                self._latest[latest] = version.number
            self._rev = max(self._rev, version.rev)
        for label in changes.labels:
            key3 = (label.tenant, label.name, label.label)
            if label.targets:
                self._labels[key3] = _Label.of(label)
                for target in label.targets:  # compile now, off the request path
                    self._compile((label.tenant, label.name, target.version))
            else:
                self._labels.pop(key3, None)
            self._rev = max(self._rev, label.rev)

    async def run(self) -> None:
        """Keep the mirror in sync until cancelled; a failing store keeps the last known prompts."""
        failing = False
        while True:
            await asyncio.sleep(SYNC_INTERVAL_SECONDS)
            try:
                await self.sync()
            except Exception as exc:  # noqa: BLE001 - any storage failure: keep serving from memory
                if not failing:
                    log.warning("prompt sync failed, serving the last known prompts: %s", exc)
                failing = True
            else:
                if failing:
                    log.info("prompt sync recovered")
                failing = False

    # ------------------------------------------------------------------ request path

    def _compile(self, key: tuple[str, str, int]) -> CachedVersion | None:
        ready = self._ready.get(key)
        if ready is None:
            record = self._records.get(key)
            if record is None:
                return None
            try:
                ready = CachedVersion.build(record, self._env, self._limits)
            except Exception:
                # Stored versions were checked when created; a failure here is a bug worth a trace.
                log.exception("prompt %s@v%d does not compile", key[1], key[2])
                raise
            self._ready[key] = ready
        return ready

    def resolve(self, tenant: str, ref: PromptRef, sticky: str) -> CachedVersion:
        """The version ``ref`` names for this caller (``UnknownModel``, a 404, when there is none)."""
        number = ref.version
        if number is None:
            label = ref.label
            assert label is not None
            if label == LATEST:
                number = self._latest.get((tenant, ref.name))
            else:
                found = self._labels.get((tenant, ref.name, label))
                if found is not None:
                    if len(found.versions) == 1:
                        number = found.versions[0]
                    else:
                        number = choose(found.versions, found.bounds, found.total, f"{tenant}/{ref}/{sticky}")
            if number is None:
                raise UnknownModel(
                    f"The prompt '{ref}' does not exist: no such prompt, or it has no label '{label}'.",
                    code="prompt_not_found",
                    param="model",
                )
        ready = self._compile((tenant, ref.name, number))
        if ready is None:
            raise UnknownModel(f"The prompt '{ref}' does not exist.", code="prompt_not_found", param="model")
        return ready
