"""The router: exact paths, one-segment and rest-of-path parameters, 404 versus 405."""

from __future__ import annotations

from typing import Any

import pytest

from podium.gateway.router import Route, Router


async def h(*args: Any, **kw: Any) -> Any:
    return None


ROUTER = Router(
    [
        Route("GET", "/v1/models", h),
        Route("GET", "/v1/models/{model...}", h),
        Route("DELETE", "/admin/keys/{key_id}", h),
    ]
)


def test_exact_and_parameters() -> None:
    """Exact paths match without parameters; {x} takes one segment; {x...} takes the rest, slashes included."""
    assert ROUTER.match("GET", "/v1/models") == (h, {})
    assert ROUTER.match("GET", "/v1/models/sim/echo") == (h, {"model": "sim/echo"})
    assert ROUTER.match("DELETE", "/admin/keys/key_1") == (h, {"key_id": "key_1"})
    assert ROUTER.match("DELETE", "/admin/keys/key_1/extra") is None
    assert ROUTER.match("DELETE", "/admin/keys/") is None


def test_known_path_distinguishes_405_from_404() -> None:
    """A path routed for another method is known (405); an unrouted path is not (404)."""
    assert ROUTER.knows_path("/admin/keys/abc")
    assert ROUTER.knows_path("/v1/models")
    assert not ROUTER.knows_path("/v1/nothing")


def test_duplicate_route_refused() -> None:
    """Two handlers for the same method and path are a programming error caught at start."""
    with pytest.raises(ValueError, match="two routes"):
        Router([Route("GET", "/x", h), Route("GET", "/x", h)])
