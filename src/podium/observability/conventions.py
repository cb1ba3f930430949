"""OpenTelemetry GenAI semantic-convention names, and how Podium's facts map onto them.

Attribute names are the current (development-status) GenAI conventions: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens``… Podium's own facts (the route decision, the cache, cost, the prompt
version, guardrail verdicts) are ``podium.*`` attributes.
"""

from __future__ import annotations

__all__ = ["GEN_AI_PROVIDERS", "operation_name", "provider_name"]

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TEMPERATURE = "gen_ai.request.temperature"
TOP_P = "gen_ai.request.top_p"
MAX_TOKENS = "gen_ai.request.max_tokens"
STREAM = "gen_ai.request.stream"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"

# Podium's provider types → the convention's well-known gen_ai.provider.name values; others keep their type.
GEN_AI_PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "groq": "groq",
    "mistral": "mistral_ai",
    "deepseek": "deepseek",
    "simulated": "podium.simulated",
}


def provider_name(provider_type: str | None) -> str:
    if provider_type is None:
        return ""
    return GEN_AI_PROVIDERS.get(provider_type, provider_type)


def operation_name(api: str) -> str:
    """Every chat-like inbound API (chat, messages, responses) is the convention's ``chat``."""
    return "embeddings" if api == "embeddings" else "chat"
