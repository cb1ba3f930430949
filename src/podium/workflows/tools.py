"""Python functions a ``tool`` step may call, and how a reference names one.

A reference is one of::

    "contract_tools.py:red_flags"    a file beside the flow's file (or an absolute path), then the function
    "mypackage.tools:red_flags"      an importable module, then the function
    "red_flags"                      a name registered with the :func:`tool` decorator

A function takes the step's ``args`` as keyword arguments and returns JSON-able data; it may be
``async``. A plain function runs on a daemon thread of its own, so one that hangs past its timeout is
abandoned without holding the event loop or the process's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ToolFunction", "call_tool", "registered", "resolve_tool", "tool"]

ToolFunction = Callable[..., Any]
F = TypeVar("F", bound=ToolFunction)

_REGISTRY: dict[str, ToolFunction] = {}
_FILES: dict[Path, Any] = {}
_LOCK = threading.Lock()


def tool(name: str) -> Callable[[F], F]:
    """Register a function under ``name`` for flows to call (``function: name``)."""

    def register(fn: F) -> F:
        _REGISTRY[name] = fn
        return fn

    return register


def registered() -> dict[str, ToolFunction]:
    return dict(_REGISTRY)


def _load_file(path: Path) -> Any:
    with _LOCK:
        module = _FILES.get(path)
        if module is None:
            name = f"podium_flow_tools_{abs(hash(str(path)))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise LookupError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            _FILES[path] = module
        return module


def resolve_tool(reference: str, source: str | None) -> ToolFunction:
    """The function ``reference`` names; ``LookupError`` saying why when there is none."""
    if ":" not in reference:
        fn = _REGISTRY.get(reference)
        if fn is None:
            known = ", ".join(sorted(_REGISTRY)) or "none"
            raise LookupError(f"no tool registered as {reference!r} (registered: {known})")
        return fn
    where, _, attribute = reference.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_absolute():
                base = Path(source).parent if source else Path.cwd()
                path = base / path
            path = path.resolve()
            if not path.is_file():
                raise LookupError(f"no file {path}")
            module = _load_file(path)
        else:
            module = importlib.import_module(where)
    except LookupError:
        raise
    except Exception as e:
        raise LookupError(f"cannot import {where!r}: {type(e).__name__}: {e}") from e
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise LookupError(f"{where!r} has no function {attribute!r}")
    return fn  # type: ignore[no-any-return]


async def call_tool(fn: ToolFunction, kwargs: dict[str, Any]) -> Any:
    """Call ``fn(**kwargs)``: awaited when async, else on a daemon thread (cancellable by abandoning it)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = fn(**kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting step as its failure
            ok, value = False, e
        else:
            ok, value = True, result
        # The loop may have closed while the tool ran: then nobody waits for it any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=work, name=f"podium-tool-{getattr(fn, '__name__', 'fn')}", daemon=True).start()
    return await future
