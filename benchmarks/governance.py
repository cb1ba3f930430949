"""What identity and audit cost: ``python -m benchmarks.governance``.

Measured in one process, on this machine, in one run:

- the request-path cost of auditing a model call (``Gateway.record`` queues one closure that also
  calls ``Governance.observe``), against the plain recorder submit;
- building a model-call audit event (hashing prompt and completion) — paid in the recorder's worker
  thread after the response, never on the path;
- admin authentication: key → principal, session token → principal, RS256 JWT → principal (JWKS
  cached), and the permission check;
- appending to the chain: entries per second in batches of 500, SQLite file (and PostgreSQL with
  ``--postgres URL``);
- ``podium audit verify``'s walk: entries checked per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from podium.audit.chain import ChainChecker
from podium.audit.events import model_call_event
from podium.audit.verify import verify_chain
from podium.canonical import ChatRequest, Message, TextDelta
from podium.collect import Collector
from podium.config.governance import IdentitySettings, OIDCSettings
from podium.gateway.auth import KeyCache
from podium.gateway.call import Call
from podium.gateway.permissions import authorize
from podium.identity.authenticator import Authenticator
from podium.identity.directory import Directory
from podium.identity.oidc import OIDCVerifier
from podium.identity.roles import RoleBook
from podium.identity.sessions import SessionSigner
from podium.keys import key_record, new_secret
from podium.storage import open_storage
from podium.storage.audit_records import AuditEvent
from podium.storage.identity_records import UserRecord
from podium.storage.records import RequestRecord


def per_call_us(fn: Callable[[], Any], n: int) -> float:
    """Median of 5 runs of ``n`` calls, in microseconds per call."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def _call() -> tuple[Call, Collector, RequestRecord]:
    chat = ChatRequest(
        model="sim/echo", messages=(Message(role="user", content="Summarise this ticket: " * 40),)
    )
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    key = key_record(new_secret(), name="bench")
    call = Call(id="req_1", api="chat", headers=headers, principal=key, chat=chat)
    collector = Collector()
    collector.add(TextDelta(text="A short summary of the ticket. " * 20))
    record = RequestRecord(
        id="req_1",
        created_at=time.time(),
        key_id=key.id,
        requested_model="sim/echo",
        status=200,
        latency_ms=1.0,
    )
    return call, collector, record


async def hot_path() -> dict[str, float]:
    from podium.accounting.recorder import Recorder

    with tempfile.TemporaryDirectory() as tmp:
        storage = await open_storage(f"sqlite:///{tmp}/b.db")
        await storage.migrate()
        from podium.config.model import Config
        from podium.gateway.governance import Governance

        governance = Governance(Config(), storage, KeyCache(storage))
        recorder = Recorder(storage.requests, max_buffered=10**9)
        call, collector, record = _call()
        pending = recorder._pending

        # What Gateway.record does per call, without and with the audit hook. The buffer is emptied
        # every 1,000 calls, as the recorder's flush would, so the garbage collector sees what it
        # sees in a server, not a million queued closures.
        def plain() -> None:
            recorder.submit(lambda: record)
            if len(pending) >= 1000:
                pending.clear()

        def hooked() -> None:
            recorder.submit(lambda: governance.observe(record, call, collector))
            if len(pending) >= 1000:
                pending.clear()

        base = per_call_us(plain, 200_000)
        with_hook = per_call_us(hooked, 200_000)
        closure = per_call_us(lambda: lambda: record, 200_000)
        hook_alone = per_call_us(lambda: lambda: governance.observe(record, call, collector), 200_000)
        event = per_call_us(lambda: model_call_event(record, call, collector, content=False), 20_000)
        await storage.close()
    return {
        "recorder_submit_us": base,
        "recorder_submit_with_audit_hook_us": with_hook,
        "audit_hook_added_us": with_hook - base,
        "audit_hook_alone_us_vs_plain_closure": hook_alone - closure,
        "model_call_event_build_us_off_path": event,
    }


async def authentication() -> dict[str, float]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    with tempfile.TemporaryDirectory() as tmp:
        storage = await open_storage(f"sqlite:///{tmp}/b.db")
        await storage.migrate()
        keys = KeyCache(storage)
        secret = new_secret()
        keys.add(key_record(secret, name="admin", roles=("admin",)))
        directory = Directory(storage.identity)
        await directory.sync()
        user = UserRecord(id="usr_1", tenant="default", username="ana", roles=("auditor",), created_at=0.0)
        directory.add_user(user)
        sessions = SessionSigner(b"s" * 32, 3600)
        token, _ = sessions.issue(user_id=user.id, tenant="default", session_version=1)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        oidc = OIDCVerifier(
            OIDCSettings(issuer="https://idp.example", audience="podium", role_map={"g": "admin"})
        )
        pyjwk = jwt.PyJWK(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key())) | {"kid": "k"})
        oidc._keys = {"k": pyjwk}  # a warm cache, as after the first fetch
        oidc._fetched_at = time.monotonic()
        claims = {
            "iss": "https://idp.example",
            "aud": "podium",
            "sub": "p",
            "exp": time.time() + 3600,
            "groups": ["g"],
        }
        jwt_token = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k"})
        auth = Authenticator(
            keys=keys, directory=directory, roles=RoleBook(IdentitySettings()), sessions=sessions, oidc=oidc
        )

        def headers(value: str) -> CIMultiDictProxy[str]:
            return CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {value}"}))

        key_h, session_h, jwt_h = headers(secret), headers(token), headers(jwt_token)
        loop = asyncio.get_running_loop()

        async def timed(h: CIMultiDictProxy[str], n: int) -> float:
            runs = []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(n):
                    await auth.authenticate(h)
                runs.append((time.perf_counter() - t0) / n * 1e6)
            return statistics.median(runs)

        principal = await auth.authenticate(key_h)
        result = {
            "admin_auth_key_us": await timed(key_h, 20_000),
            "admin_auth_session_us": await timed(session_h, 20_000),
            "admin_auth_jwt_rs256_us": await timed(jwt_h, 2_000),
            "authorize_us": per_call_us(lambda: authorize(principal, "keys:read"), 200_000),
        }
        del loop
        await storage.close()
    return result


async def chain(url: str | None, label: str, count: int) -> dict[str, float]:
    tmp = tempfile.TemporaryDirectory()
    storage = await open_storage(url or f"sqlite:///{tmp.name}/b.db")
    try:
        await storage.migrate()
        key = b"k" * 32
        events = [
            AuditEvent(
                time=time.time(),
                tenant="default",
                actor="key:key_1",
                action="model.call",
                details={"n": n, "cost_usd": 0.001},
            )
            for n in range(count)
        ]
        t0 = time.perf_counter()
        for start in range(0, count, 500):
            await storage.audit.append(events[start : start + 500], key=key)
        append = count / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = await verify_chain(storage.audit, key)
        verify = report.checked / (time.perf_counter() - t0)
        assert report.ok, report.problem
        checker = ChainChecker(key)
        entries = await storage.audit.read(limit=count)
        t0 = time.perf_counter()
        for e in entries:
            checker.feed(e)
        pure = len(entries) / (time.perf_counter() - t0)
    finally:
        await storage.close()
        tmp.cleanup()
    return {
        f"{label}_append_entries_per_s": append,
        f"{label}_verify_entries_per_s": verify,
        "chain_check_only_entries_per_s": pure,
    }


async def main(args: argparse.Namespace) -> None:
    results: dict[str, float] = {}
    results |= await hot_path()
    results |= await authentication()
    results |= await chain(None, "sqlite", args.entries)
    if args.postgres:
        results |= await chain(args.postgres, "postgres", args.entries)
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:>12,.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20_000, help="audit entries to append and verify")
    parser.add_argument(
        "--postgres", metavar="URL", help="also measure PostgreSQL (use a schema of its own: ?schema=bench)"
    )
    asyncio.run(main(parser.parse_args()))
