"""Embedding models the gateway serves: a knowledge base may use any embeddings deployment or route.

:class:`GatewayEmbedder` turns texts into vectors with a :data:`RemoteEmbed` function. In a server it
is :func:`through_gateway`: the call runs the gateway's own embeddings pipeline (model allowed for the
key, routes, fallbacks, health) and leaves a request record like any other. The CLI, which has no
server, uses :func:`through_catalog`: the configured deployments in fallback order.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy

from podium.canonical import EmbeddingRequest, EmbeddingResult
from podium.errors import PodiumError, ProviderError, UnknownModel
from podium.knowledge.embedding import normalise
from podium.storage.records import KeyRecord

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from podium.gateway.app import Gateway
    from podium.gateway.catalog import Catalog

__all__ = ["GatewayEmbedder", "RemoteEmbed", "through_catalog", "through_gateway"]

# (model, texts, the key it is for (None: a person, the CLI, a job), its tenant) -> one row per text
RemoteEmbed = Callable[[str, list[str], KeyRecord | None, str], Awaitable["npt.NDArray[np.float32]"]]
_BATCH = 256


class GatewayEmbedder:
    def __init__(self, model: str, remote: RemoteEmbed, principal: KeyRecord | None, tenant: str) -> None:
        self.name = model
        self._remote = remote
        self._principal = principal
        self._tenant = tenant
        self._dimension: int | None = None

    async def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int((await self.embed(["dimension"])).shape[1])
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        parts = [
            await self._remote(self.name, list(texts[i : i + _BATCH]), self._principal, self._tenant)
            for i in range(0, len(texts), _BATCH)
        ]
        if not parts:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        return normalise(np.concatenate(parts).astype(np.float32, copy=False))


def vectors_of(result: EmbeddingResult, count: int) -> npt.NDArray[np.float32]:
    import numpy as np

    rows = sorted(result.data, key=lambda e: e.index)
    if len(rows) != count:
        raise ProviderError(f"the embedding model answered {len(rows)} vectors for {count} texts")
    return np.stack(
        [
            np.frombuffer(e.vector, dtype="<f4")
            if isinstance(e.vector, bytes)
            else np.asarray(e.vector, dtype=np.float32)
            for e in rows
        ]
    ).astype(np.float32, copy=False)


def _service_key(tenant: str) -> KeyRecord:
    """Who an embedding call is made for when no API key asked for it (a person, the CLI, a job)."""
    return KeyRecord(
        id="knowledge", name="knowledge-base ingestion", hash="", prefix="", tenant=tenant, created_at=0.0
    )


def through_gateway(gw: Gateway) -> RemoteEmbed:
    """Embed through ``gw``'s embeddings pipeline, recorded like any call (as the key, if one asked)."""
    from podium.gateway.call import Call
    from podium.gateway.http_io import new_request_id

    async def embed(
        model: str, texts: list[str], principal: KeyRecord | None, tenant: str
    ) -> npt.NDArray[np.float32]:
        call = Call(
            id=new_request_id(),
            api="embeddings",
            headers=CIMultiDictProxy(CIMultiDict()),
            principal=principal or _service_key(tenant),
            embedding=EmbeddingRequest(model=model, inputs=tuple(texts)),
        )
        status = 200
        result: EmbeddingResult | None = None
        try:
            result = await gw.embeddings(call)
        except PodiumError as exc:
            call.error = exc
            status = exc.status
            raise
        finally:
            gw.record(call, status=status, usage=result.usage if result is not None else None)
        return vectors_of(result, len(texts))

    return embed


def through_catalog(catalog: Catalog) -> RemoteEmbed:
    """Embed with the configured deployments directly, in fallback order (for the CLI)."""

    async def embed(
        model: str, texts: list[str], principal: KeyRecord | None, tenant: str
    ) -> npt.NDArray[np.float32]:
        target = catalog.resolve(model)
        if target is None or not target.candidates:
            raise UnknownModel(
                f"The embedding model '{model}' is not served by this configuration.", param="model"
            )
        last: ProviderError | None = None
        request = EmbeddingRequest(model=model, inputs=tuple(texts))
        for cand in target.candidates:
            try:
                result = await cand.embeddings.embed(request, deadline=time.monotonic() + 120)
            except ProviderError as exc:
                last = exc
                continue
            return vectors_of(result, len(texts))
        assert last is not None
        raise last

    return embed
