"""The standalone simulator in its own process, and a config with one provider of every adapter type."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.gateway.test_upstream import free_port

SECRET = "sk-sim-secret"
AWS_KEY_ID = "AKIDSIMULATOR"


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    """``podium simulate --api-key SECRET`` on a free port; yields ``http://127.0.0.1:<port>``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "simulate", "--port", str(port), "--api-key", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture(scope="session")
def service_account(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Path:
    """A Google service-account key file whose token endpoint is the simulator's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path_factory.mktemp("gcp") / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "sim-project",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "podium@sim-project.iam.gserviceaccount.com",
                "token_uri": f"{sim_url}/sim/oauth/token",
            }
        )
    )
    return path


def providers_yaml(sim_url: str, service_account: Path, *, secret: str = SECRET) -> dict[str, Any]:
    """One provider per adapter, all pointed at the simulator, each with a wildcard deployment."""
    fast = {"connect": 2, "first_token": 1.5, "total": 5}
    everything = ["chat", "streaming", "tools", "json_object", "json_schema", "vision", "embeddings"]
    providers: dict[str, Any] = {
        "openai": {"type": "openai-compatible", "base_url": f"{sim_url}/v1", "api_key": secret},
        "azure": {
            "type": "azure",
            "base_url": f"{sim_url}/openai",
            "api_key": secret,
            "api_version": "2024-10-21",
        },
        "azure-entra": {
            "type": "azure",
            "base_url": f"{sim_url}/openai",
            "api_version": "2024-10-21",
            "entra": {
                "tenant_id": "t",
                "client_id": "podium",
                "client_secret": secret,
                "token_url": f"{sim_url}/sim/oauth/token",
            },
        },
        "anthropic": {"type": "anthropic", "base_url": f"{sim_url}/v1", "api_key": secret},
        "gemini": {"type": "gemini", "base_url": f"{sim_url}/v1beta", "api_key": secret},
        "vertex": {
            "type": "vertex",
            "base_url": f"{sim_url}/v1",
            "region": "us-central1",
            "google": {"credentials_file": str(service_account)},
        },
        "bedrock": {
            "type": "bedrock",
            "base_url": sim_url,
            "region": "us-east-1",
            "aws": {"access_key_id": AWS_KEY_ID, "secret_access_key": secret},
        },
        "ollama": {
            "type": "ollama",
            "base_url": f"{sim_url}/v1",
            "headers": {"Authorization": f"Bearer {secret}"},
        },
    }
    deployments = {
        f"{name}/*": {"provider": name, "model": "*", "capabilities": everything, "timeouts": fast}
        for name in providers
    }
    return {"providers": providers, "deployments": deployments}


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path
