"""Tenants and people on the request path: an in-process mirror of the identity store.

Like the key mirror (:mod:`podium.gateway.auth`) it is filled at start and kept in sync by polling
``changes_since`` every half second, so checking a session or a tenant costs no I/O, and a person
disabled (or a tenant switched off) anywhere is refused everywhere within a second.
"""

from __future__ import annotations

import asyncio
import logging

from podium.storage.base import IdentityStore
from podium.storage.identity_records import TenantRecord, UserRecord

__all__ = ["Directory"]

log = logging.getLogger("podium.identity")

SYNC_INTERVAL_SECONDS = 0.5


class Directory:
    def __init__(self, store: IdentityStore) -> None:
        self._store = store
        self.tenants: dict[str, TenantRecord] = {}
        self.users: dict[str, UserRecord] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._rev = 0

    async def sync(self) -> None:
        changes = await self._store.changes_since(self._rev)
        for tenant in changes.tenants:
            self.tenants[tenant.id] = tenant
            self._rev = max(self._rev, tenant.rev)
        for user in changes.users:
            self.add_user(user)
            self._rev = max(self._rev, user.rev)

    def add_tenant(self, tenant: TenantRecord) -> None:
        self.tenants[tenant.id] = tenant

    def add_user(self, user: UserRecord) -> None:
        self.users[user.id] = user
        self._by_name[(user.tenant, user.username)] = user.id

    def find(self, tenant: str, username: str) -> UserRecord | None:
        user_id = self._by_name.get((tenant, username))
        return None if user_id is None else self.users.get(user_id)

    async def run(self) -> None:
        """Keep the mirror in sync until cancelled; a failing store keeps the last known state."""
        failing = False
        while True:
            await asyncio.sleep(SYNC_INTERVAL_SECONDS)
            try:
                await self.sync()
            except Exception as exc:  # noqa: BLE001 - any storage failure: keep serving from memory
                if not failing:
                    log.warning("identity sync failed, serving the last known tenants and people: %s", exc)
                failing = True
            else:
                if failing:
                    log.info("identity sync recovered")
                failing = False

    def tenant_active(self, tenant: str) -> bool:
        record = self.tenants.get(tenant)
        return record is not None and record.disabled_at is None

    def audit_content(self, tenant: str) -> bool:
        record = self.tenants.get(tenant)
        return record is not None and record.audit_content
