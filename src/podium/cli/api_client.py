"""What the commands that talk to a running server share: where it is, the key, one JSON call.

``podium flows`` and ``podium reviews`` act through the HTTP API rather than on the storage, because
what they do needs the gateway: a run executes on a server's worker, a decision resumes a run there,
and the API is where permissions, tenant scoping and the audit trail are enforced. The server is
``--url`` (or ``$PODIUM_URL``, default ``http://127.0.0.1:8400``) and the key ``--api-key`` (or
``$PODIUM_API_KEY``). Errors from the server are printed with its message and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["ApiClient", "ApiError", "action_parsers", "add_server_args", "client_of", "report"]

DEFAULT_URL = "http://127.0.0.1:8400"


class ApiError(Exception):
    """The server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def add_server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", metavar="URL", help=f"the Podium server (default: $PODIUM_URL or {DEFAULT_URL})"
    )
    parser.add_argument("--api-key", metavar="KEY", help="the key to call it with (default: $PODIUM_API_KEY)")


def action_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, dest: str
) -> Callable[..., argparse.ArgumentParser]:
    """The ``podium NAME`` parser; returns a maker of its actions, each with the server options and
    ``--json`` unless ``server=False`` (an action done locally)."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    actions = p.add_subparsers(dest=dest, metavar="ACTION", required=True)

    def action(
        cmd: str, help_: str, *, description: str | None = None, server: bool = True
    ) -> argparse.ArgumentParser:
        c = actions.add_parser(cmd, help=help_, description=description or help_)
        if server:
            add_server_args(c)
            c.add_argument("--json", action="store_true", help="print the server's JSON")
        return c

    return action


def client_of(args: argparse.Namespace) -> ApiClient:
    url = args.url or os.environ.get("PODIUM_URL") or DEFAULT_URL
    key = args.api_key or os.environ.get("PODIUM_API_KEY")
    if not key:
        raise ApiError(0, "no API key: pass --api-key or set PODIUM_API_KEY")
    return ApiClient(url, key)


class ApiClient:
    def __init__(self, base_url: str, key: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One request; the decoded JSON answer, or :class:`ApiError` with the server's message."""
        request = self._request(method, path, body, query)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise _error_of(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, f"cannot reach {self.base_url}: {reason}") from None
        return json.loads(raw) if raw else None

    def events(self, path: str, *, timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """Server-sent events from ``path``: ``(event, data)`` pairs until the server ends the stream."""
        request = self._request("GET", path, None, None)
        request.add_header("Accept", "text/event-stream")
        try:
            response = urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _error_of(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}") from None
        with response:
            event, data = "message", list[str]()
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def _request(
        self, method: str, path: str, body: Any, query: Mapping[str, Any] | None
    ) -> urllib.request.Request:
        url = self.base_url + path
        if query:
            kept = {k: str(v) for k, v in query.items() if v is not None and v != ""}
            if kept:
                url += "?" + urllib.parse.urlencode(kept)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        return request


def _error_of(status: int, raw: bytes) -> ApiError:
    try:
        error = json.loads(raw)["error"]
        return ApiError(status, str(error.get("message")), error.get("code"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ApiError(status, raw.decode(errors="replace")[:500] or f"HTTP {status}")


def report(error: ApiError) -> int:
    """Print the server's error for a person; the exit status is 1."""
    where = f" (HTTP {error.status})" if error.status else ""
    print(f"podium: {error.message}{where}", file=sys.stderr)
    return 1
