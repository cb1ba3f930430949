"""The embedded default configuration: what ``podium serve`` runs with when there is no ``podium.yaml``.

It is built from what the machine already has, so a first run needs no file at all:

* the simulated provider, always: ``sim/*`` answers in process (``sim/echo``, ``sim/lorem``…);
* every hosted provider whose usual key variable is set and non-empty (``OPENAI_API_KEY`` →
  ``openai/*``, ``GROQ_API_KEY`` → ``groq/*``…), plus Anthropic and Google Gemini through their
  OpenAI-compatible endpoints (``anthropic/*``, ``gemini/*``);
* a local Ollama, if one answers within 300 ms (``ollama/*``).

Every real provider gets a wildcard deployment, so ``openai/gpt-4o`` works without naming it first.
Keys are read from the ``environ`` passed in, once, at start-up; the values end up in the
:class:`Config` exactly as a ``${OPENAI_API_KEY}`` reference in a file would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlsplit

from podium.config.model import Capability, Config, Deployment, Price, Provider, ProviderType

# A module, not its PRESETS: presets imports podium.config.model, so the name may not exist yet here.
from podium.providers import presets

__all__ = ["DEFAULT_OLLAMA_URL", "default_config", "describe"]

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_PROBE_SECONDS = 0.3

# A wildcard stands for models nobody listed, so it claims every capability: the upstream refuses
# what its model cannot do, which is better than Podium refusing what it could.
_ALL_CAPABILITIES: tuple[Capability, ...] = get_args(Capability)


@dataclass(frozen=True, slots=True)
class _Hosted:
    """A hosted provider the default configuration adds when one of ``env_keys`` is set."""

    name: str  # the provider's name, and its wildcard's prefix
    label: str
    type: ProviderType
    env_keys: tuple[str, ...]
    base_url: str | None = None  # None: the type's preset


_HOSTED: tuple[_Hosted, ...] = (
    _Hosted("openai", "OpenAI", "openai", ("OPENAI_API_KEY",)),
    # Native adapters: prompt-cache usage, thinking blocks and safety finishes translate exactly.
    _Hosted("anthropic", "Anthropic", "anthropic", ("ANTHROPIC_API_KEY",)),
    _Hosted("gemini", "Google Gemini", "gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    _Hosted("groq", "Groq", "groq", ("GROQ_API_KEY",)),
    _Hosted("mistral", "Mistral", "mistral", ("MISTRAL_API_KEY",)),
    _Hosted("deepseek", "DeepSeek", "deepseek", ("DEEPSEEK_API_KEY",)),
    _Hosted("together", "Together AI", "together", ("TOGETHER_API_KEY",)),
    _Hosted("openrouter", "OpenRouter", "openrouter", ("OPENROUTER_API_KEY",)),
)


async def default_config(
    environ: Mapping[str, str],
    *,
    probe_ollama: bool = True,
    ollama_url: str = DEFAULT_OLLAMA_URL,
) -> Config:
    """The configuration to serve without a file: ``sim/*``, every keyed hosted provider, a local Ollama.

    ``environ`` is read here and nowhere later. The Ollama probe costs at most 300 ms and is skipped
    silently when nothing answers; ``probe_ollama=False`` skips it altogether (``podium check``, tests).
    """
    providers: dict[str, Provider] = {"sim": Provider(type="simulated")}
    deployments: dict[str, Deployment] = {"sim/*": _wildcard("sim", price=Price())}
    for hosted in _HOSTED:
        key = next((environ[k] for k in hosted.env_keys if environ.get(k, "").strip()), None)
        if key is None:
            continue
        providers[hosted.name] = Provider(type=hosted.type, api_key=key.strip(), base_url=hosted.base_url)
        deployments[f"{hosted.name}/*"] = _wildcard(hosted.name)
    if probe_ollama and await _ollama_answers(ollama_url):
        providers["ollama"] = Provider(type="ollama", base_url=f"{ollama_url.rstrip('/')}/v1")
        # Local models cost nothing per token; without a price the table would leave them unpriced.
        deployments["ollama/*"] = _wildcard("ollama", price=Price())
    return Config(providers=providers, deployments=deployments)


def _wildcard(provider: str, *, price: Price | None = None) -> Deployment:
    return Deployment(provider=provider, model="*", capabilities=_ALL_CAPABILITIES, price=price)


async def _ollama_answers(url: str) -> bool:
    """Whether an Ollama server answers ``GET {url}/api/tags`` with its model list, and quickly."""
    import aiohttp  # here: importing the configuration package should not cost an HTTP client

    try:
        async with asyncio.timeout(OLLAMA_PROBE_SECONDS):
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=OLLAMA_PROBE_SECONDS)) as session,
                session.get(f"{url.rstrip('/')}/api/tags") as response,
            ):
                if response.status != 200:
                    return False
                body = await response.json(content_type=None)
                return isinstance(body, dict) and isinstance(body.get("models"), list)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        # Nothing there, something else there, or too slow: start without it, and say nothing.
        return False


def describe(config: Config) -> list[str]:
    """One human line per deployment and route, for the start-up banner.

    ``sim/* → simulated provider (in process)``, ``openai/* → OpenAI (OPENAI_API_KEY)``,
    ``support → gpt-4o, then claude (fallback)``.
    """
    lines = []
    for name, deployment in config.deployments.items():
        provider = config.providers.get(deployment.provider)
        where = _provider_label(deployment.provider, provider)
        if deployment.model == "*":
            lines.append(f"{name} → {where}")
        else:
            lines.append(f"{name} → {deployment.model} at {where}")
    for name, route in config.routes.items():
        line = f"{name} → {', '.join(route.deployments)}"
        if route.fallbacks:
            line += f", then {', '.join(route.fallbacks)} (fallback)"
        lines.append(line)
    return lines


def _provider_label(name: str, provider: Provider | None) -> str:
    if provider is None:
        return f"provider '{name}'"
    if presets.PRESETS[provider.type].wire == "simulated":
        return "simulated provider (in process)"
    hosted = next((h for h in _HOSTED if h.name == name and h.type == provider.type), None)
    if hosted is not None and provider.base_url == hosted.base_url and provider.api_key:
        return f"{hosted.label} ({' or '.join(hosted.env_keys)})"
    base_url = provider.base_url or presets.PRESETS[provider.type].base_url or ""
    host = urlsplit(base_url).netloc or base_url
    if provider.type == "ollama":
        return f"Ollama at {host} (local)"
    return f"{name} ({provider.type}, {host})" if host else f"{name} ({provider.type})"
