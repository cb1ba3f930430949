"""Prompts as files: a folder of YAML files, one per prompt, pushed to and pulled from the registry.

A file ``NAME.yaml`` holds one prompt's content, in this order — the canonical layout that
``podium prompts pull`` writes, byte for byte the same every time::

    name: contract-summary            # must match the file name
    description: ...                  # optional
    template: |                       # a text prompt, or:
    messages:                         # a chat prompt
    - role: system
      content: |
        ...
    variables:
      audience:
        type: string
        default: lawyers
    config:
      model: gpt-4o-mini
      temperature: 0.2

``push`` checks every file first and writes nothing if any is wrong; then each file whose content
differs from its prompt's latest version becomes a new version (unchanged files create nothing). So
a folder that ``pull`` wrote, or one written in its layout, comes back from the registry unchanged:
push then pull reproduces it byte for byte. Labels stay in the registry (``--label`` moves one to
what was pushed, under the usual rules for protected labels).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from podium.config.prompts import PromptSettings
from podium.errors import RequestError
from podium.prompts import registry
from podium.prompts.model import check_name, check_spec, decode_spec
from podium.storage.base import Storage
from podium.storage.prompt_records import LabelTarget, PromptSpec, PromptVersionRecord

__all__ = ["SUFFIX", "FileProblem", "PushResult", "dump_prompt", "load_folder", "load_prompt", "pull", "push"]

SUFFIX = ".yaml"


class FileProblem(RequestError):
    """A prompt file that cannot be pushed; the message starts with the file's path."""

    code = "invalid_prompt_file"


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line text (templates) as literal blocks, the way people write them; PyYAML falls back to
    # a quoted scalar by itself when a block cannot hold the text exactly (trailing spaces, tabs…).
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _represent_str)


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return dict(loader.construct_pairs(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def dump_prompt(name: str, spec: PromptSpec) -> str:
    """The canonical text of a prompt file."""
    data: dict[str, Any] = {"name": name, **msgspec.to_builtins(spec)}
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )
    return text


def load_prompt(path: Path, settings: PromptSettings | None = None) -> tuple[str, PromptSpec, bool]:
    """A prompt file's name and content, checked as a new version would be (it must compile), and
    whether the file is in the canonical layout (what ``pull`` would write)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_Loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise FileProblem(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FileProblem(f"{path}: a prompt file is a mapping with `name` and the prompt's fields")
    name = data.pop("name", None)
    if name != path.name[: -len(SUFFIX)]:
        raise FileProblem(
            f"{path}: `name` must be the file's name without {SUFFIX} ({path.stem!r}), not {name!r}"
        )
    try:
        check_name(name)
        spec = decode_spec(data, "prompt file")
        check_spec(spec, registry.limits_of(settings) if settings else None)
    except RequestError as exc:
        where = f" at {exc.param}" if exc.param and exc.param not in exc.message else ""
        raise FileProblem(f"{path}{where}: {exc.message}", param=exc.param) from None
    return name, spec, text == dump_prompt(name, spec)


def load_folder(
    folder: Path, settings: PromptSettings | None = None
) -> list[tuple[Path, str, PromptSpec, bool]]:
    """Every ``*.yaml`` prompt file of ``folder`` (not its sub-folders), checked; by name."""
    if not folder.is_dir():
        raise FileProblem(f"{folder}: not a folder")
    return [(p, *load_prompt(p, settings)) for p in sorted(folder.glob(f"*{SUFFIX}")) if p.is_file()]


@dataclass(frozen=True, slots=True)
class PushResult:
    path: Path
    version: PromptVersionRecord
    created: bool
    canonical: bool  # whether the file is in the layout pull writes (else pull would reformat it)
    label: registry.LabelChange | None = None


async def push(
    storage: Storage,
    settings: PromptSettings,
    actor: registry.Actor,
    folder: Path,
    *,
    message: str = "",
    label: str | None = None,
    audit: registry.AuditSink | None = None,
) -> list[PushResult]:
    """Every file of ``folder`` whose content changed becomes a new version; ``label`` moves to each."""
    files = await asyncio.to_thread(load_folder, folder, settings)  # all checked before anything is written
    results = []
    for path, name, spec, canonical in files:
        version, created = await registry.create_version(
            storage, settings, actor, name, spec, message=message, only_if_changed=True, audit=audit
        )
        change = None
        if label is not None:
            change = await registry.move_label(
                storage,
                settings,
                actor,
                name,
                label,
                (LabelTarget(version.number),),
                note=message,
                audit=audit,
            )
        results.append(PushResult(path, version, created, canonical, change))
    return results


async def pull(storage: Storage, tenant: str, folder: Path) -> list[Path]:
    """Write every prompt's latest version into ``folder`` as ``NAME.yaml``; the paths written."""
    files = [
        (folder / f"{v.name}{SUFFIX}", dump_prompt(v.name, v.spec).encode("utf-8"))
        for v in await storage.prompts.latest_versions(tenant)
    ]
    return await asyncio.to_thread(_write, folder, files)


def _write(folder: Path, files: list[tuple[Path, bytes]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in files:
        path.write_bytes(data)
    return [path for path, _ in files]
