"""A local OIDC issuer for tests: discovery document and JWKS over real HTTP, keys it can rotate."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Issuer:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks`` on an ephemeral port, in its own thread."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"k1": rsa_key()}
        self.jwks_fetches = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _jwk(self, kid: str, key: Any) -> dict[str, Any]:
        public = key.public_key()
        algo = (
            jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
        )
        jwk: dict[str, Any] = json.loads(algo.to_jwk(public))
        jwk["kid"] = kid
        jwk["use"] = "sig"
        return jwk

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.url, "jwks_uri": self.url + "/jwks"})

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": [self._jwk(kid, key) for kid, key in self.keys.items()]})

    def start(self) -> Issuer:
        self._thread.start()

        async def boot() -> None:
            app = web.Application()
            app.router.add_get("/.well-known/openid-configuration", self._discovery)
            app.router.add_get("/jwks", self._jwks)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"

        asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def down() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def token(
        self,
        *,
        kid: str = "k1",
        key: Any = None,
        alg: str = "RS256",
        issuer: str | None = None,
        audience: str = "podium",
        expires_in: float = 300,
        **claims: Any,
    ) -> str:
        now = time.time()
        payload = {
            "iss": self.url if issuer is None else issuer,
            "aud": audience,
            "sub": "person-1",
            "email": "ana@example.com",
            "iat": int(now),
            "exp": int(now + expires_in),
            **claims,
        }
        signing = key if key is not None else self.keys[kid]
        return jwt.encode(payload, signing, algorithm=alg, headers={"kid": kid})
