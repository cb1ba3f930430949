"""Google Gemini ``generateContent`` / embedding response shapes, as msgspec Structs.

The same shapes serve the Gemini API (``generativelanguage.googleapis.com``) and Vertex AI; field
names follow the REST reference (camelCase on the wire).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BatchEmbedResponse",
    "Candidate",
    "Content",
    "GenerateContentResponse",
    "Part",
    "PredictResponse",
    "UsageMetadata",
]


# msgspec.Raw cannot share a union with None: an empty Raw means "absent".
_EMPTY = msgspec.Raw(b"")


class _In(msgspec.Struct, kw_only=True, rename="camel"):
    pass


class FunctionCall(_In):
    name: str
    args: msgspec.Raw = _EMPTY
    id: str | None = None


class Part(_In):
    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    function_call: FunctionCall | None = None
    inline_data: dict[str, str] | None = None
    executable_code: dict[str, str] | None = None
    code_execution_result: dict[str, str] | None = None


class Content(_In):
    role: str | None = None
    parts: list[Part] = []


class Candidate(_In):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0
    safety_ratings: msgspec.Raw = _EMPTY


class PromptFeedback(_In):
    block_reason: str | None = None
    safety_ratings: msgspec.Raw = _EMPTY


class UsageMetadata(_In):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    total_token_count: int = 0
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0


class GenerateContentResponse(_In):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str = ""
    response_id: str = ""


class Values(_In):
    values: list[float]


class BatchEmbedResponse(_In):
    embeddings: list[Values]


class PredictStatistics(_In):
    token_count: float = msgspec.field(default=0, name="token_count")  # Vertex writes this one in snake case
    truncated: bool = False


class PredictEmbedding(_In):
    values: list[float]
    statistics: PredictStatistics | None = None


class Prediction(_In):
    embeddings: PredictEmbedding


class PredictResponse(_In):
    predictions: list[Prediction]
