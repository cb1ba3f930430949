"""Data residency: which regions a request may be processed in, and whether a deployment is in one.

The allowed regions of a request are the intersection of every policy that names some: the API key's
``allowed_regions`` (set by an administrator, or inherited from its team or tenant) and the route's
``regions``. A region allows itself and the regions under it: ``eu`` allows ``eu``, ``eu-west-1`` and
``eu_central``; ``us-east-1`` allows only itself. A deployment without a region is never compliant
with a policy: nobody can say where it processes data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from podium.errors import PermissionDenied

__all__ = ["Residency", "ResidencyViolation", "region_allowed"]


class ResidencyViolation(PermissionDenied):
    """No deployment that could serve the request is in a region its policies allow."""

    code = "residency_violation"


def region_allowed(region: str | None, allowed: Sequence[str]) -> bool:
    if not allowed:
        return True
    if region is None:
        return False
    return any(region == a or (region.startswith(a) and region[len(a)] in "-_") for a in allowed)


@dataclass(frozen=True, slots=True)
class Residency:
    """The allowed regions of one request, and the policies they came from (for messages)."""

    allowed: tuple[str, ...]  # empty: no policy applies
    sources: tuple[str, ...]  # "key 'key_ab12'", "route 'support'"

    @classmethod
    def of(
        cls, key_regions: Sequence[str], key_id: str, route_regions: Sequence[str], route: str | None
    ) -> Residency:
        if not key_regions and not route_regions:
            return NO_POLICY
        allowed: list[str] | None = None
        sources: list[str] = []
        for regions, source in ((key_regions, f"API key {key_id}"), (route_regions, f"route '{route}'")):
            if not regions:
                continue
            sources.append(f"{source} allows {', '.join(regions)}")
            if allowed is None:
                allowed = list(regions)
            else:
                # The narrower of each pair survives: eu and eu-west-1 leave eu-west-1.
                before = allowed
                allowed = list(
                    dict.fromkeys(
                        [r for r in before if region_allowed(r, regions)]
                        + [r for r in regions if region_allowed(r, before)]
                    )
                )
        if allowed is None:
            return cls(allowed=(), sources=())
        return cls(allowed=tuple(allowed) or ("(none)",), sources=tuple(sources))

    @property
    def active(self) -> bool:
        return bool(self.allowed)

    def allows(self, region: str | None) -> bool:
        return region_allowed(region, self.allowed)

    def policy(self) -> str:
        return "; ".join(self.sources)


NO_POLICY = Residency(allowed=(), sources=())
