"""Failed sign-ins, counted per account and per client address in the shared state.

``POST /admin/login`` asks :meth:`LoginThrottle.check` before it verifies a password: once an account
(tenant and username) or an address has failed ``identity.login_throttle`` times within the window,
sign-ins for it are refused with 429 and a Retry-After until the oldest failures leave the window —
whether the password is right or not, so guessing gains nothing. Only failures count
(:meth:`LoginThrottle.failed`); the counters live in :mod:`podium.state`, so a limit holds across
every replica when they share Redis. An unknown username counts like a known one: the answer must not
tell them apart.

When the shared state cannot be reached, ``state.on_unavailable`` decides, as it does for limits:
``open`` lets sign-ins through unthrottled, ``closed`` refuses them (503).
"""

from __future__ import annotations

import hashlib

from podium.config.governance import LoginThrottleSettings
from podium.config.model import StateSettings
from podium.errors import RateLimited
from podium.state.base import Adjust, Counter, SharedState, StateUnavailable

__all__ = ["LoginThrottle"]

_SLOTS = 15  # the window is counted in 15 slots: a failure leaves it within 1/15 of the window


def _key(kind: str, *parts: str) -> str:
    # Hashed: usernames and addresses are not left readable in Redis, and the keys stay short.
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"login:{kind}:{digest}"


class LoginThrottle:
    def __init__(
        self, state: SharedState, settings: LoginThrottleSettings, state_settings: StateSettings
    ) -> None:
        self.state = state
        self.settings = settings
        self.policy = state_settings.on_unavailable
        self.window_ms = int(settings.window_seconds * 1000)

    def _counters(self, tenant: str, username: str, remote: str | None) -> list[tuple[str, int]]:
        s = self.settings
        counters = [(_key("account", tenant, username.casefold()), s.failures_per_account)]
        if remote:
            counters.append((_key("address", remote), s.failures_per_address))
        return counters

    async def check(self, tenant: str, username: str, remote: str | None) -> int:
        """Refuse (RateLimited, 429) a sign-in for an account or address over its failures; the state's
        clock in ms, for :meth:`failed`. Counts nothing."""
        if not self.settings.enabled:
            return 0
        counters = [
            Counter(key=key, kind="window", limit=limit, cost=0, window_ms=self.window_ms, slots=_SLOTS)
            for key, limit in self._counters(tenant, username, remote)
        ]
        try:
            admission = await self.state.admit(counters)
        except StateUnavailable:
            if self.policy == "closed":
                raise StateUnavailable(
                    "Sign-ins cannot be checked against failed attempts: the shared state is unreachable "
                    "(state.on_unavailable: closed)."
                ) from None
            return 0
        if not admission.allowed:
            which = "account" if admission.failed == 0 else "address"
            raise RateLimited(
                f"Too many failed sign-ins for this {which}; try again later.",
                retry_after=admission.retry_after or self.settings.window_seconds / _SLOTS,
                code="too_many_sign_in_failures",
            )
        return admission.now_ms

    def failed(self, tenant: str, username: str, remote: str | None, at_ms: int) -> None:
        """Count one failed sign-in against the account and the address (never waits)."""
        if not self.settings.enabled:
            return
        self.state.submit(
            [
                Adjust(key=key, kind="window", amount=1, window_ms=self.window_ms, slots=_SLOTS, at_ms=at_ms)
                for key, _ in self._counters(tenant, username, remote)
            ]
        )
