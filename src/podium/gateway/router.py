"""Method + path → handler. Exact paths are one dict lookup; ``{name}`` matches one segment and a
final ``{name...}`` the rest of the path (model ids such as ``sim/echo`` contain slashes).

Each feature module declares its own table (``ROUTES``) of :class:`Route`; the gateway joins them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["Handler", "Route", "Router"]

# A handler gets the gateway, the request, and the path's ``{name}`` segments as keyword arguments.
Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # "/v1/chat/completions" or "/admin/keys/{key_id}"
    handler: Handler


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        routes = self.routes = list(routes)  # kept for the OpenAPI document
        self._exact: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, tuple[str, ...], Handler]] = []
        self._paths: set[str] = set()
        for r in routes:
            if "{" in r.path:
                self._patterns.append((r.method, tuple(r.path.strip("/").split("/")), r.handler))
            else:
                if (r.method, r.path) in self._exact:
                    raise ValueError(f"two routes for {r.method} {r.path}")
                self._exact[(r.method, r.path)] = r.handler
                self._paths.add(r.path)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        handler = self._exact.get((method, path))
        if handler is not None:
            return handler, {}
        parts = path.strip("/").split("/")
        for m, pattern, h in self._patterns:
            if m == method and (params := _match(pattern, parts)) is not None:
                return h, params
        return None

    def knows_path(self, path: str) -> bool:
        """Whether some method is routed at ``path`` (so a miss is a 405, not a 404)."""
        if path in self._paths:
            return True
        parts = path.strip("/").split("/")
        return any(_match(pattern, parts) is not None for _, pattern, _ in self._patterns)

    async def dispatch(self, gw: Gateway, request: web.BaseRequest) -> web.StreamResponse | None:
        found = self.match(request.method, request.path)
        if found is None:
            return None
        handler, params = found
        result: Any = await handler(gw, request, **params)
        return result  # type: ignore[no-any-return]


def _match(pattern: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if pattern and pattern[-1].endswith("...}"):
        head = len(pattern) - 1
        if len(parts) <= head or not all(parts[head:]):
            return None
        found = _match(pattern[:head], parts[:head])
        if found is not None:
            found[pattern[-1][1:-4]] = "/".join(parts[head:])
        return found
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for p, actual in zip(pattern, parts, strict=True):
        if p.startswith("{") and p.endswith("}"):
            if not actual:
                return None
            params[p[1:-1]] = actual
        elif p != actual:
            return None
    return params
