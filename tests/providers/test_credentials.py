"""Credentials beyond one API key: AWS keys from file, environment or profile; Google and Entra tokens.

Keys are resolved once by the config loader (nothing reads the environment later); tokens are
fetched from the (simulated) token endpoint, cached, and refreshed before they expire.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from podium.canonical import ChatRequest, Message
from podium.config import load_config
from podium.config.model import Config
from podium.errors import ConfigError, UpstreamStatusError
from podium.providers.http import ClientPool
from podium.providers.oauth import REFRESH_MARGIN, TokenSource
from podium.providers.registry import ProviderContext, build_models
from tests.providers.conftest import SECRET, providers_yaml, write_config


def bedrock_only(
    sim_url: str, aws: dict[str, Any] | None, region: str | None = "us-east-1"
) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "bedrock", "base_url": sim_url}
    if region:
        provider["region"] = region
    if aws is not None:
        provider["aws"] = aws
    return {"providers": {"b": provider}, "deployments": {"b/*": {"provider": "b", "model": "*"}}}


async def ask(config: Config, provider: str, model: str = "echo") -> str:
    pool = ClientPool()
    try:
        ctx = ProviderContext(pool=pool, accounts={}, session_keys=set())
        chat = build_models(
            ctx, provider, config.providers[provider], "d", config.deployments[f"{provider}/*"], model
        ).chat
        events = [
            e
            async for e in chat.stream(
                ChatRequest(model="m", messages=(Message(role="user", content="signed"),))
            )
        ]
        return "".join(getattr(e, "text", "") for e in events if type(e).__name__ == "TextDelta")
    finally:
        await pool.close()


async def test_aws_keys_from_environment(sim_url: str, tmp_path: Path) -> None:
    """Without keys in the file, the loader takes AWS_ACCESS_KEY_ID / SECRET / SESSION_TOKEN and AWS_REGION."""
    path = write_config(tmp_path / "p.yaml", bedrock_only(sim_url, None, region=None))
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": "tok",
        "AWS_REGION": "eu-central-1",
    }
    config = load_config(path, environ=env)
    aws = config.providers["b"].aws
    assert aws is not None and (aws.access_key_id, aws.session_token) == ("AKIDENV", "tok")
    assert config.providers["b"].region == "eu-central-1"
    assert await ask(config, "b") == "signed"  # the simulator checked the SigV4 signature


async def test_aws_keys_from_profile(sim_url: str, tmp_path: Path) -> None:
    """``aws.profile`` reads that profile of the shared credentials file."""
    creds = tmp_path / "credentials"
    creds.write_text(
        f"[default]\naws_access_key_id = A\naws_secret_access_key = wrong\n\n[podium]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET}\n"
    )
    path = write_config(tmp_path / "p.yaml", bedrock_only(sim_url, {"profile": "podium"}))
    config = load_config(path, environ={"AWS_SHARED_CREDENTIALS_FILE": str(creds)})
    assert config.providers["b"].aws is not None and config.providers["b"].aws.access_key_id == "AKIDPROFILE"
    assert await ask(config, "b") == "signed"


def test_missing_aws_credentials_and_region_are_config_problems(sim_url: str, tmp_path: Path) -> None:
    """A Bedrock provider with no keys anywhere, or no region, is refused at load with its path."""
    path = write_config(tmp_path / "p.yaml", bedrock_only(sim_url, {"profile": "nope"}, region=None))
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={"HOME": str(tmp_path)})
    text = str(exc.value)
    assert (
        "providers.b.aws: no AWS credentials" in text
        and "providers.b.region: required for type 'bedrock'" in text
    )


def test_bad_service_account_file_is_a_config_problem(sim_url: str, tmp_path: Path) -> None:
    """A Vertex provider whose key file is unreadable or not a key is refused at load, naming the file."""
    bad = tmp_path / "sa.json"
    bad.write_text('{"client_email": "x", "private_key": "not a key"}')
    data = {
        "providers": {
            "v": {"type": "vertex", "region": "us-central1", "google": {"credentials_file": str(bad)}}
        }
    }
    with pytest.raises(ConfigError, match=r"providers\.v\.google\.credentials_file: the private_key in"):
        load_config(write_config(tmp_path / "p.yaml", data), environ={})


def test_credential_sections_belong_to_their_type(tmp_path: Path) -> None:
    """An ``aws`` section on an OpenAI provider, or an entra section without a secret, is a problem."""
    data = {
        "providers": {
            "o": {"type": "openai", "api_key": "k", "aws": {"access_key_id": "a", "secret_access_key": "b"}},
            "az": {
                "type": "azure",
                "base_url": "https://x.openai.azure.com/openai",
                "api_version": "2024-10-21",
                "entra": {"client_id": "c"},
            },
        }
    }
    with pytest.raises(ConfigError) as exc:
        load_config(write_config(tmp_path / "p.yaml", data), environ={})
    assert "providers.o.aws: only for type 'bedrock'" in str(exc.value)
    assert "providers.az.entra: give `token`" in str(exc.value)


async def test_vertex_token_cached_and_refreshed(sim_url: str, service_account: Path, tmp_path: Path) -> None:
    """Vertex's OAuth token is fetched once, reused, and fetched again when it nears expiry."""
    data = providers_yaml(sim_url, service_account)
    data["providers"]["vertex"]["google"]["token_url"] = (
        f"{sim_url}/sim/oauth/token?expires_in={REFRESH_MARGIN + 0.6}"
    )
    config = load_config(write_config(tmp_path / "p.yaml", data), environ={})
    pool = ClientPool()
    try:
        ctx = ProviderContext(pool=pool, accounts={}, session_keys=set())
        chat = build_models(
            ctx, "vertex", config.providers["vertex"], "d", config.deployments["vertex/*"], "echo"
        ).chat
        request = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
        for _ in range(3):
            assert [e async for e in chat.stream(request)]
        token: TokenSource = ctx.accounts["vertex"].token  # type: ignore[attr-defined]
        assert token.fetches == 1
        time.sleep(0.7)
        assert [e async for e in chat.stream(request)]
        assert token.fetches == 2
    finally:
        await pool.close()


async def test_token_endpoint_refusal_is_an_authentication_error(
    sim_url: str, service_account: Path, tmp_path: Path
) -> None:
    """A token endpoint that refuses the service account makes the call an upstream authentication error."""
    data = providers_yaml(sim_url, service_account)
    data["providers"]["vertex"]["google"]["token_url"] = f"{sim_url}/sim/oauth/token?deny"
    config = load_config(write_config(tmp_path / "p.yaml", data), environ={})
    with pytest.raises(UpstreamStatusError) as exc:
        await ask(config, "vertex")
    assert exc.value.code == "upstream_authentication_error" and "Invalid JWT" in exc.value.message


async def test_azure_static_entra_token(sim_url: str, service_account: Path, tmp_path: Path) -> None:
    """Azure with a static Entra token sends it as a bearer token; a token the upstream refuses is a 502."""
    data = providers_yaml(sim_url, service_account)
    data["providers"]["azure-entra"]["entra"] = {"token": "not-issued-by-the-endpoint"}
    config = load_config(write_config(tmp_path / "p.yaml", data), environ={})
    with pytest.raises(UpstreamStatusError) as exc:
        await ask(config, "azure-entra")
    assert exc.value.code == "upstream_authentication_error"
