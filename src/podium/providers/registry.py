"""Which adapter serves a provider: one factory per wire protocol, chosen by the provider's preset.

Adding a provider family (Anthropic, Gemini, Bedrock…) is one factory here and one preset in
:mod:`podium.providers.presets`; nothing else on the request path changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from podium.canonical import EmbeddingRequest, EmbeddingResult
from podium.config.model import Deployment, Provider
from podium.errors import UnsupportedFeature
from podium.providers.base import ChatModel, EmbeddingModel
from podium.providers.h1 import H1Pool
from podium.providers.http import ClientPool
from podium.providers.oauth import ClientCredentialsToken, StaticToken, TokenSource
from podium.providers.openai import Account, OpenAIChatModel, OpenAIEmbeddingModel
from podium.providers.presets import PRESETS

__all__ = ["FACTORIES", "Instrument", "Models", "NoEmbeddings", "ProviderContext", "build_models"]


@dataclass(frozen=True, slots=True)
class Models:
    chat: ChatModel
    embeddings: EmbeddingModel


class NoEmbeddings:
    """The embedding side of a provider that has no embedding API: every call is refused by name."""

    def __init__(self, deployment: str, provider: str) -> None:
        self.deployment = deployment
        self.provider = provider

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        raise UnsupportedFeature(
            f"Deployment '{self.deployment}' is served by the {self.provider} API, which has no embeddings.",
            param="model",
        )


# (models, deployment name, provider type, upstream model) -> the same models, wrapped.
Instrument = Callable[["Models", str, str, str], "Models"]


@dataclass(slots=True)
class ProviderContext:
    """What factories share for one configuration: the HTTP pool and one account object per provider."""

    pool: ClientPool
    accounts: dict[str, object]
    session_keys: set[tuple[str, int]]
    instrument: Instrument | None = None  # wraps every deployment's models (tracing: a span per attempt)

    def base_url(self, provider: Provider) -> str:
        return (provider.base_url or PRESETS[provider.type].base_url or _regional_url(provider)).rstrip("/")

    def session_for(self, provider: Provider) -> aiohttp.ClientSession:
        base_url = self.base_url(provider)
        self.session_keys.add((base_url, provider.max_connections))
        return self.pool.session(base_url, max_connections=provider.max_connections)

    def h1_for(self, provider: Provider) -> H1Pool:
        base_url = self.base_url(provider)
        self.session_keys.add((base_url, provider.max_connections))
        return self.pool.h1(base_url, max_connections=provider.max_connections)


def _regional_url(p: Provider) -> str:
    """Vertex AI's and Bedrock's endpoints are per region."""
    region = p.region or ""
    if p.type == "vertex":
        host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
        return f"https://{host}/v1"
    if p.type == "bedrock":
        return f"https://bedrock-runtime.{region}.amazonaws.com"
    return ""


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
            pool=ctx.h1_for(p),
            session=ctx.session_for(p),
            auth=preset.auth if p.api_key else "none",
            api_key=p.api_key,
            api_version=p.api_version,
            azure=p.type == "azure",
            extra_headers=dict(p.headers),
            token=_entra_token(p),
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


def _entra_token(p: Provider) -> TokenSource | None:
    e = p.entra
    if e is None:
        return None
    if e.token:
        return StaticToken(e.token)
    return ClientCredentialsToken(
        tenant_id=e.tenant_id or "",
        client_id=e.client_id or "",
        client_secret=e.client_secret or "",
        token_url=e.token_url,
        scope=e.scope,
    )


def _anthropic(
    ctx: ProviderContext, provider_name: str, p: Provider, name: str, dep: Deployment, model: str
) -> Models:
    from podium.providers.anthropic import AnthropicAccount, AnthropicChatModel

    account = ctx.accounts.get(provider_name)
    if account is None:
        account = ctx.accounts[provider_name] = AnthropicAccount(
            name=provider_name,
            base_url=ctx.base_url(p),
            pool=ctx.h1_for(p),
            session=ctx.session_for(p),
            api_key=p.api_key,
            extra_headers=dict(p.headers),
        )
    assert isinstance(account, AnthropicAccount)
    chat = AnthropicChatModel(
        deployment=name,
        upstream_model=model,
        account=account,
        timeouts=dep.timeouts,
        max_tokens=dep.max_output_tokens,
    )
    return Models(chat=chat, embeddings=NoEmbeddings(name, "Anthropic"))


def _gemini(
    ctx: ProviderContext, provider_name: str, p: Provider, name: str, dep: Deployment, model: str
) -> Models:
    from podium.providers.gemini import GeminiAccount, GeminiChatModel, GeminiEmbeddingModel
    from podium.providers.oauth import ServiceAccountToken, load_service_account

    account = ctx.accounts.get(provider_name)
    if account is None:
        token = project = None
        if p.type == "vertex":
            assert p.google is not None  # the loader requires it for type vertex
            service_account = load_service_account(p.google.credentials_file)
            token = ServiceAccountToken(service_account, token_url=p.google.token_url)
            project = p.google.project or service_account.project_id
        account = ctx.accounts[provider_name] = GeminiAccount(
            name=provider_name,
            base_url=ctx.base_url(p),
            pool=ctx.h1_for(p),
            session=ctx.session_for(p),
            api_key=p.api_key,
            token=token,
            project=project,
            location=p.region,
            extra_headers=dict(p.headers),
        )
    assert isinstance(account, GeminiAccount)
    return Models(
        chat=GeminiChatModel(deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts),
        embeddings=GeminiEmbeddingModel(
            deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts
        ),
    )


def _bedrock(
    ctx: ProviderContext, provider_name: str, p: Provider, name: str, dep: Deployment, model: str
) -> Models:
    from podium.providers.bedrock import BedrockAccount, BedrockChatModel, BedrockEmbeddingModel
    from podium.providers.sigv4 import AwsCredentials

    account = ctx.accounts.get(provider_name)
    if account is None:
        aws = p.aws
        # The loader resolved the keys (file, AWS_* variables or profile) at start-up.
        if aws is None or not aws.access_key_id or not aws.secret_access_key:
            raise ValueError(f"provider '{provider_name}' has no AWS credentials")
        guardrail = None
        if aws.guardrail_identifier:
            guardrail = {
                "guardrailIdentifier": aws.guardrail_identifier,
                "guardrailVersion": aws.guardrail_version,
                "trace": "enabled",
            }
        account = ctx.accounts[provider_name] = BedrockAccount(
            name=provider_name,
            base_url=ctx.base_url(p),
            pool=ctx.h1_for(p),
            session=ctx.session_for(p),
            region=p.region or "",
            credentials=AwsCredentials(aws.access_key_id, aws.secret_access_key, aws.session_token),
            guardrail=guardrail,
            extra_headers=dict(p.headers),
        )
    assert isinstance(account, BedrockAccount)
    return Models(
        chat=BedrockChatModel(deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts),
        embeddings=BedrockEmbeddingModel(
            deployment=name, upstream_model=model, account=account, timeouts=dep.timeouts
        ),
    )


FACTORIES: dict[str, Factory] = {
    "openai": _openai,
    "simulated": _simulated,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "bedrock": _bedrock,
}


def build_models(
    ctx: ProviderContext, provider_name: str, provider: Provider, name: str, dep: Deployment, model: str
) -> Models:
    """The adapters for deployment ``name`` calling upstream ``model``; ``ValueError`` if it cannot be built."""
    models = FACTORIES[PRESETS[provider.type].wire](ctx, provider_name, provider, name, dep, model)
    if ctx.instrument is not None:  # instrumentation is a model that wraps models
        models = ctx.instrument(models, name, provider.type, model)
    return models
