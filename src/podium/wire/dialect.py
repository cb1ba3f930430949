"""Which inbound API a request's ``extra`` fields belong to, and refusing them where they mean nothing.

An edge keeps the fields of its API that have no canonical meaning in ``ChatRequest.extra`` and
names their dialect in ``ChatRequest.dialect``. An adapter that forwards ``extra`` verbatim (the
OpenAI-compatible one) may only do so for its own dialect: Anthropic's ``thinking`` or ``top_k`` sent
to an OpenAI-compatible server would be rejected by some, and silently ignored by others. So it calls
:func:`refuse_foreign_extra` first, and the caller gets a 400 that names the field and the provider.
"""

from __future__ import annotations

from podium.canonical import ChatRequest
from podium.errors import UnsupportedFeature

__all__ = ["API_NAMES", "refuse_foreign_extra"]

API_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic Messages"}


def refuse_foreign_extra(request: ChatRequest, *, speaks: str, provider: str) -> None:
    """Raise :class:`UnsupportedFeature` if ``request.extra`` is in a dialect other than ``speaks``."""
    if not request.extra or request.dialect == speaks:
        return
    names = sorted(request.extra)
    listed = ", ".join(f"`{n}`" for n in names)
    raise UnsupportedFeature(
        f"{listed} ({API_NAMES.get(request.dialect, request.dialect)} API) cannot be translated for "
        f"provider '{provider}', which speaks the {API_NAMES.get(speaks, speaks)} API; the request was "
        "refused rather than sent without it. Remove the field, or use a model served by a provider "
        "of that API.",
        param=names[0],
    )
