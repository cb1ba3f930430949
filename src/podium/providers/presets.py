"""Vendor presets: default base URL, how the credential is sent, its usual variable, the wire protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from podium.config.model import ProviderType

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str | None  # None: the operator must give one
    auth: Literal["bearer", "api-key", "none", "x-api-key", "x-goog-api-key", "oauth", "sigv4"]
    env_key: str | None  # the standard environment variable holding the key
    wire: Literal["openai", "simulated", "anthropic", "gemini", "bedrock"] = "openai"


PRESETS: dict[ProviderType, Preset] = {
    "openai": Preset("https://api.openai.com/v1", "bearer", "OPENAI_API_KEY"),
    # Azure: base_url is https://{resource}.openai.azure.com/openai; deployments are URL segments.
    "azure": Preset(None, "api-key", "AZURE_OPENAI_API_KEY"),
    "ollama": Preset("http://127.0.0.1:11434/v1", "none", None),
    "vllm": Preset("http://127.0.0.1:8000/v1", "bearer", None),
    "tgi": Preset("http://127.0.0.1:8080/v1", "bearer", None),
    "llamacpp": Preset("http://127.0.0.1:8080/v1", "bearer", None),
    "groq": Preset("https://api.groq.com/openai/v1", "bearer", "GROQ_API_KEY"),
    "mistral": Preset("https://api.mistral.ai/v1", "bearer", "MISTRAL_API_KEY"),
    "deepseek": Preset("https://api.deepseek.com/v1", "bearer", "DEEPSEEK_API_KEY"),
    "together": Preset("https://api.together.xyz/v1", "bearer", "TOGETHER_API_KEY"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "bearer", "OPENROUTER_API_KEY"),
    "openai-compatible": Preset(None, "bearer", None),
    "simulated": Preset(None, "none", None, wire="simulated"),
    "anthropic": Preset("https://api.anthropic.com/v1", "x-api-key", "ANTHROPIC_API_KEY", wire="anthropic"),
    "gemini": Preset(
        "https://generativelanguage.googleapis.com/v1beta", "x-goog-api-key", "GEMINI_API_KEY", wire="gemini"
    ),
    # Vertex AI and Bedrock: the base URL follows from the region (https://{region}-aiplatform…,
    # https://bedrock-runtime.{region}.amazonaws.com); see podium.providers.registry.
    "vertex": Preset(None, "oauth", None, wire="gemini"),
    "bedrock": Preset(None, "sigv4", None, wire="bedrock"),
}
