"""Identity and audit for one running gateway: who is calling the admin API, and the trail of what
happened. Built with the gateway; ``start`` loads the shared secrets and starts the background work
(people mirror, audit writer, checkpoints); ``observe`` is the one hook, run after the response."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from podium.audit.checkpoints import Checkpointer, Signer
from podium.audit.events import model_call_event
from podium.audit.keys import audit_keys
from podium.audit.writer import AuditWriter
from podium.config.model import Config
from podium.gateway.auth import KeyCache
from podium.identity.authenticator import Authenticator
from podium.identity.directory import Directory
from podium.identity.oidc import OIDCVerifier
from podium.identity.roles import RoleBook
from podium.identity.sessions import SessionSigner
from podium.server_keys import server_secret
from podium.storage.base import Storage
from podium.storage.records import RequestRecord

if TYPE_CHECKING:
    from podium.collect import Collector
    from podium.gateway.call import Call

__all__ = ["Governance"]

log = logging.getLogger("podium.governance")

SESSION_SECRET_NAME = "session_secret"


class Governance:
    def __init__(self, config: Config, storage: Storage, keys: KeyCache) -> None:
        self._storage = storage
        self.config = config
        self.directory = Directory(storage.identity)
        self.authenticator = Authenticator(
            keys=keys,
            directory=self.directory,
            roles=RoleBook(config.identity),
            sessions=None,  # needs the shared secret: set by start()
            oidc=OIDCVerifier(config.identity.oidc) if config.identity.oidc else None,
        )
        # The key is read from storage in start(); nothing is appended before then.
        self.writer = AuditWriter(storage.audit, b"", flush_interval=config.audit.flush_interval_ms / 1000)
        self.audit_key = b""
        self._session_secret = b""
        self.signer: Signer | None = None
        self._checkpointer: Checkpointer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.audit_key, self.signer = await audit_keys(self._storage.meta, self.config.audit)
        self.writer.set_key(self.audit_key)
        session_secret = await server_secret(
            self._storage.meta, SESSION_SECRET_NAME, self.config.identity.session_secret
        )
        self._session_secret = session_secret
        self.authenticator.sessions = SessionSigner(session_secret, self.config.identity.session_ttl_seconds)
        await self.directory.sync()
        self.writer.start()
        self._checkpointer = Checkpointer(
            self._storage.audit, self.signer, self.config.audit.checkpoint_interval_seconds
        )
        self._checkpointer.start()
        self._tasks.append(asyncio.create_task(self.directory.run(), name="podium-identity-sync"))

    def reload(self, config: Config) -> None:
        """A changed file: new custom roles, OIDC settings, session lifetime. Secrets stay."""
        old_oidc = self.authenticator.oidc
        self.config = config
        self.authenticator.roles = RoleBook(config.identity)
        if config.identity.oidc != (old_oidc.settings if old_oidc else None):
            self.authenticator.oidc = OIDCVerifier(config.identity.oidc) if config.identity.oidc else None
            if old_oidc is not None:
                task = asyncio.create_task(old_oidc.close())
                self._tasks.append(task)
                task.add_done_callback(self._tasks.remove)
        if self.authenticator.sessions is not None:
            self.authenticator.sessions = SessionSigner(
                self._session_secret, config.identity.session_ttl_seconds
            )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self.writer.close()
        if self.authenticator.oidc is not None:
            await self.authenticator.oidc.close()

    def observe(self, record: RequestRecord, call: Call, collector: Collector | None) -> RequestRecord:
        """Queue the audit event of a finished call; returns ``record`` unchanged.

        Called by the request recorder's builder, in its worker thread after the response: hashing the
        prompt and the completion costs the request path nothing.
        """
        if self.config.audit.model_calls:
            content = self.directory.audit_content(record.tenant)
            self.writer.submit(model_call_event(record, call, collector, content=content))
        return record
