"""The embedded default: the simulated provider, every keyed hosted provider, and a local Ollama."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from podium.config import Config, Price, default_config, describe, validate_config

ALL_CAPABILITIES = ("chat", "streaming", "tools", "json_object", "json_schema", "vision", "embeddings")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def defaults(environ: dict[str, str]) -> Config:
    return await default_config(environ, probe_ollama=False)


async def test_no_keys_gives_the_simulator_only() -> None:
    """With no key variables the default is ``sim/*`` alone: free, able to do everything."""
    config = await defaults({})
    assert list(config.providers) == ["sim"]
    assert config.providers["sim"].type == "simulated"
    assert list(config.deployments) == ["sim/*"]
    sim = config.deployments["sim/*"]
    assert (sim.provider, sim.model, sim.price) == ("sim", "*", Price())
    assert set(sim.capabilities) == set(ALL_CAPABILITIES)
    assert config.routes == {}
    assert config.storage.url is None


async def test_default_passes_the_loader_checks() -> None:
    """The default with every provider present passes the same checks as a file."""
    environ = {
        "OPENAI_API_KEY": "a",
        "ANTHROPIC_API_KEY": "b",
        "GEMINI_API_KEY": "c",
        "GROQ_API_KEY": "d",
        "MISTRAL_API_KEY": "e",
        "DEEPSEEK_API_KEY": "f",
        "TOGETHER_API_KEY": "g",
        "OPENROUTER_API_KEY": "h",
    }
    config = validate_config(await defaults(environ))
    assert len(config.providers) == 9
    assert all(name.endswith("/*") and d.model == "*" for name, d in config.deployments.items())


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("OPENAI_API_KEY", "openai"),
        ("GROQ_API_KEY", "groq"),
        ("MISTRAL_API_KEY", "mistral"),
        ("DEEPSEEK_API_KEY", "deepseek"),
        ("TOGETHER_API_KEY", "together"),
        ("OPENROUTER_API_KEY", "openrouter"),
    ],
)
async def test_preset_key_adds_its_provider(variable: str, name: str) -> None:
    """A set key variable adds the provider of that type, with the key, and its wildcard."""
    config = await defaults({variable: "secret"})
    provider = config.providers[name]
    assert (provider.type, provider.api_key, provider.base_url) == (name, "secret", None)
    assert config.deployments[f"{name}/*"].provider == name
    assert config.deployments[f"{name}/*"].model == "*"


async def test_empty_key_is_ignored() -> None:
    """A key variable set to an empty or blank string adds nothing."""
    config = await defaults({"OPENAI_API_KEY": "", "GROQ_API_KEY": "  "})
    assert list(config.providers) == ["sim"]


async def test_anthropic_uses_the_native_adapter() -> None:
    """ANTHROPIC_API_KEY adds ``anthropic`` as a provider of type anthropic at the preset's URL."""
    config = await defaults({"ANTHROPIC_API_KEY": "sk-ant"})
    provider = config.providers["anthropic"]
    assert (provider.type, provider.base_url, provider.api_key) == ("anthropic", None, "sk-ant")
    assert "anthropic/*" in config.deployments


async def test_gemini_from_either_variable() -> None:
    """GEMINI_API_KEY or else GOOGLE_API_KEY adds ``gemini`` as a provider of type gemini."""
    from_google = await defaults({"GOOGLE_API_KEY": "g"})
    assert from_google.providers["gemini"].api_key == "g"
    assert from_google.providers["gemini"].type == "gemini"
    both = await defaults({"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "m"})
    assert both.providers["gemini"].api_key == "m"
    assert "gemini/*" in both.deployments


async def test_os_environ_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the environ passed in counts."""
    monkeypatch.setenv("OPENAI_API_KEY", "from-os")
    assert "openai" not in (await defaults({})).providers


async def test_describe_names_each_source() -> None:
    """The banner lines say where each wildcard goes and which variable enabled it."""
    config = await defaults({"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b"})
    assert describe(config) == [
        "sim/* → simulated provider (in process)",
        "openai/* → OpenAI (OPENAI_API_KEY)",
        "anthropic/* → Anthropic (ANTHROPIC_API_KEY)",
    ]


# --------------------------------------------------------------------------- the Ollama probe


@pytest.fixture
async def fake_ollama() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a tiny HTTP server answering /api/tags with a given handler; yields its base URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/api/tags", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


async def test_answering_ollama_is_added(fake_ollama: Callable[[Handler], Awaitable[str]]) -> None:
    """An Ollama answering /api/tags adds ``ollama`` at its /v1 and a free ``ollama/*``."""

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": "llama3.2:latest"}]})

    url = await fake_ollama(tags)
    config = await default_config({}, ollama_url=url)
    assert config.providers["ollama"].type == "ollama"
    assert config.providers["ollama"].base_url == f"{url}/v1"
    assert config.deployments["ollama/*"].price == Price()
    assert describe(config)[-1] == f"ollama/* → Ollama at {url.removeprefix('http://')} (local)"


async def test_nothing_listening_is_skipped_quickly() -> None:
    """A closed port means no Ollama, decided at once and silently."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    config = await default_config({}, ollama_url=f"http://127.0.0.1:{port}")
    assert "ollama" not in config.providers
    assert time.perf_counter() - started < 0.3


async def test_slow_server_is_given_up_on(fake_ollama: Callable[[Handler], Awaitable[str]]) -> None:
    """A server that does not answer within ~300 ms is skipped: start-up does not wait for it."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), timeout=5)
        return web.json_response({"models": []})

    url = await fake_ollama(stall)
    started = time.perf_counter()
    try:
        config = await default_config({}, ollama_url=url)
    finally:
        release.set()
    elapsed = time.perf_counter() - started
    assert "ollama" not in config.providers
    assert 0.25 < elapsed < 1.0


async def test_something_else_on_the_port_is_skipped(
    fake_ollama: Callable[[Handler], Awaitable[str]],
) -> None:
    """A server that answers but is not Ollama (wrong status or body) is skipped."""

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def not_ollama(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    for handler in (not_found, not_ollama):
        config = await default_config({}, ollama_url=await fake_ollama(handler))
        assert "ollama" not in config.providers


async def test_probe_can_be_turned_off(fake_ollama: Callable[[Handler], Awaitable[str]]) -> None:
    """probe_ollama=False never contacts the server."""
    calls = 0

    async def tags(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"models": []})

    url = await fake_ollama(tags)
    config = await default_config({}, probe_ollama=False, ollama_url=url)
    assert "ollama" not in config.providers and calls == 0
