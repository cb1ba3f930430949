"""The request-path step that turns a prompt reference into rendered messages and model settings.

It works on the canonical :class:`~podium.canonical.ChatRequest`, so every inbound API gets it. A
request references a prompt in either (or both) of two ways:

* ``"model": "prompt:NAME"``, ``"prompt:NAME@LABEL"`` or ``"prompt:NAME@v3"`` (no ``@``: ``production``);
* an extension object ``"podium": {"prompt": {"name", "label" | "version", "variables"}}`` at the top
  level of the body, which the edge keeps in ``ChatRequest.extra`` (the OpenAI SDKs send it with
  ``extra_body``). With it, ``model`` may also name the model to run on, overriding the prompt's.

The rendered messages come first, followed by the caller's own ``messages`` (a conversation to
continue, say). The version's settings — model, temperature, top_p, max_tokens, response_format,
tools, tool_choice — apply wherever the request leaves them unset. The step records the prompt and
the version that served on the :class:`~podium.gateway.call.Call`, so the request record carries them.
It runs before the model is authorised and resolved: the key must be allowed the prompt's model.
"""

from __future__ import annotations

from typing import Any

import msgspec

from podium.canonical import ChatRequest
from podium.config.prompts import PromptSettings
from podium.errors import RequestError
from podium.gateway.call import Call
from podium.gateway.pipeline import Handler, Step
from podium.prompts.cache import CachedVersion, PromptCache
from podium.prompts.model import MODEL_PREFIX, PromptRef, parse_model_ref, parse_ref

__all__ = ["SESSION_HEADER", "apply_prompt", "find_reference", "prompt_steps"]

SESSION_HEADER = "x-podium-session"
_BARE = "prompt"  # `"model": "prompt"` with a `podium.prompt` object: run on the prompt's model


class _ExtensionRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str | None = None
    label: str | None = None
    version: int | str | None = None
    variables: dict[str, Any] = {}


def _extension(extra: dict[str, Any]) -> tuple[_ExtensionRef | None, dict[str, Any] | None]:
    """The ``podium.prompt`` object, and ``extra`` without it (what may still go upstream)."""
    podium = extra.get("podium")
    if not isinstance(podium, dict) or "prompt" not in podium:
        return None, extra
    try:
        found = msgspec.convert(podium["prompt"], _ExtensionRef)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = text.rsplit("at `$", 1)[1].rstrip("`") if "at `$" in text else ""
        raise RequestError(f"Invalid `podium.prompt`: {text}", param=f"podium.prompt{where}") from None
    rest = {k: v for k, v in extra.items() if k != "podium"}
    others = {k: v for k, v in podium.items() if k != "prompt"}
    if others:
        rest["podium"] = others
    return found, rest or None


def find_reference(chat: ChatRequest) -> tuple[PromptRef, dict[str, Any], dict[str, Any] | None, bool] | None:
    """(reference, variables, extra without the reference, whether the prompt's model runs) or None."""
    by_model = chat.model.startswith(MODEL_PREFIX)
    ext: _ExtensionRef | None = None
    extra = chat.extra
    if extra is not None and "podium" in extra:
        ext, extra = _extension(extra)
    if ext is None:
        return (parse_model_ref(chat.model), {}, extra, True) if by_model else None
    if ext.label is not None and ext.version is not None:
        raise RequestError(
            "`podium.prompt` takes a label or a version, not both.", param="podium.prompt.version"
        )
    ref_text = str(ext.version) if ext.version is not None else ext.label
    if by_model:
        ref = parse_model_ref(chat.model)
        if ext.name is not None and ext.name != ref.name:
            raise RequestError(
                f"`model` names prompt '{ref.name}' but `podium.prompt.name` names '{ext.name}'.",
                param="podium.prompt.name",
            )
        if ref_text is not None:
            if "@" in chat.model:
                raise RequestError(
                    "Give the label or version in `model` or in `podium.prompt`, not in both.",
                    param="podium.prompt",
                )
            ref = parse_ref(ref.name, ref_text, "podium.prompt")
        return ref, ext.variables, extra, True
    if ext.name is None:
        raise RequestError("`podium.prompt.name` is required.", param="podium.prompt.name")
    return parse_ref(ext.name, ref_text, "podium.prompt.name"), ext.variables, extra, chat.model == _BARE


def apply_prompt(
    chat: ChatRequest,
    version: CachedVersion,
    variables: dict[str, Any],
    extra: dict[str, Any] | None,
    use_model: bool,
) -> ChatRequest:
    """The request with the rendered messages first and the version's settings where it has none."""
    messages = version.prompt.render(variables)
    model = chat.model
    if use_model:
        if version.model is None:
            raise RequestError(
                f"Prompt '{version.record.name}' (v{version.record.number}) names no model in its config: "
                "name one in the request's `model` and pass the prompt as `podium.prompt`.",
                code="prompt_without_model",
                param="model",
            )
        model = version.model
    return msgspec.structs.replace(
        chat,
        model=model,
        messages=messages + chat.messages,
        temperature=chat.temperature if chat.temperature is not None else version.temperature,
        top_p=chat.top_p if chat.top_p is not None else version.top_p,
        max_tokens=chat.max_tokens if chat.max_tokens is not None else version.max_tokens,
        response_format=chat.response_format if chat.response_format is not None else version.response_format,
        tools=chat.tools or version.tools,
        tool_choice=chat.tool_choice if chat.tool_choice is not None else version.tool_choice,
        extra=extra,
    )


def prompt_step(cache: PromptCache) -> Step:
    async def prompt(call: Call, call_next: Handler) -> Any:
        chat = call.chat
        if chat is not None and (
            chat.model.startswith(MODEL_PREFIX) or (chat.extra and "podium" in chat.extra)
        ):
            found = find_reference(chat)
            if found is not None:
                ref, variables, extra, use_model = found
                sticky = chat.user or call.headers.get(SESSION_HEADER) or call.principal.id
                version = cache.resolve(call.principal.tenant, ref, sticky)
                # Set before rendering: a request refused for its variables counts against this version.
                call.prompt_name = ref.name
                call.prompt_version = version.record.number
                call.chat = apply_prompt(chat, version, variables, extra, use_model)
        return await call_next(call)

    return prompt


def prompt_steps(cache: PromptCache, api: str, settings: PromptSettings) -> list[Step]:
    """The step for ``api``'s pipeline: chat-like APIs only, and none when prompts are switched off."""
    cache.configure(settings)
    if not settings.enabled or api == "embeddings":
        return []
    return [prompt_step(cache)]
