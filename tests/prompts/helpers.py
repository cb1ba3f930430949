"""Calling the admin API over a real socket, and prompt bodies the tests share."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(base_url: str, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON) of one admin API call; errors are answers too, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def summary_prompt(marker: str, **changes: Any) -> dict[str, Any]:
    """A chat prompt whose user message starts with ``marker``, so sim/echo's answer shows the version."""
    body: dict[str, Any] = {
        "message": f"version {marker}",
        "messages": [
            {"role": "system", "content": "Summarise contracts for {{ audience }}."},
            {"role": "user", "content": marker + ": {{ text }}"},
        ],
        "variables": {"audience": {"type": "string", "default": "lawyers"}, "text": {"type": "string"}},
        "config": {"model": "sim/echo", "temperature": 0.2, "max_tokens": 200},
    }
    body.update(changes)
    return body
