"""Which adapter serves a provider: one factory per wire protocol, chosen by the provider's preset.

Adding a provider family (Anthropic, Gemini, Bedrock…) is one factory here and one preset in
:mod:`podium.providers.presets`; nothing else on the request path changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from podium.config.model import Deployment, Provider
from podium.providers.base import ChatModel, EmbeddingModel
from podium.providers.http import ClientPool
from podium.providers.openai import Account, OpenAIChatModel, OpenAIEmbeddingModel
from podium.providers.presets import PRESETS

__all__ = ["FACTORIES", "Models", "ProviderContext", "build_models"]


@dataclass(frozen=True, slots=True)
class Models:
    chat: ChatModel
    embeddings: EmbeddingModel


@dataclass(slots=True)
class ProviderContext:
    """What factories share for one configuration: the HTTP pool and one account object per provider."""

    pool: ClientPool
    accounts: dict[str, object]
    session_keys: set[tuple[str, int]]

    def base_url(self, provider: Provider) -> str:
        return (provider.base_url or PRESETS[provider.type].base_url or "").rstrip("/")

    def session_for(self, provider: Provider) -> aiohttp.ClientSession:
        base_url = self.base_url(provider)
        self.session_keys.add((base_url, provider.max_connections))
        return self.pool.session(base_url, max_connections=provider.max_connections)


Factory = Callable[[ProviderContext, str, Provider, str, Deployment, str], Models]


def _openai(
    ctx: ProviderContext, provider_name: str, p: Provider, name: str, dep: Deployment, model: str
) -> Models:
    account = ctx.accounts.get(provider_name)
    if account is None:
        preset = PRESETS[p.type]
        account = ctx.accounts[provider_name] = Account(
            name=provider_name,
            base_url=ctx.base_url(p),
            session=ctx.session_for(p),
            auth=preset.auth if p.api_key else "none",
            api_key=p.api_key,
            api_version=p.api_version,
            azure=p.type == "azure",
            extra_headers=dict(p.headers),
        )
    assert isinstance(account, Account)
    return Models(
        chat=OpenAIChatModel(deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts),
        embeddings=OpenAIEmbeddingModel(
            deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts
        ),
    )


def _simulated(
    ctx: ProviderContext, provider_name: str, p: Provider, name: str, dep: Deployment, model: str
) -> Models:
    from podium.simulator.model import SimulatedChatModel, SimulatedEmbeddingModel

    return Models(chat=SimulatedChatModel(model), embeddings=SimulatedEmbeddingModel(model))


FACTORIES: dict[str, Factory] = {"openai": _openai, "simulated": _simulated}


def build_models(
    ctx: ProviderContext, provider_name: str, provider: Provider, name: str, dep: Deployment, model: str
) -> Models:
    """The adapters for deployment ``name`` calling upstream ``model``; ``ValueError`` if it cannot be built."""
    return FACTORIES[PRESETS[provider.type].wire](ctx, provider_name, provider, name, dep, model)
