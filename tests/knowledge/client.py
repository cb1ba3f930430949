"""HTTP helpers for the knowledge-base API: JSON calls, and multipart uploads built by hand (urllib)."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from typing import Any

from tests.admin_client import Answer, call


class KbClient:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def post(self, path: str, body: Any = None) -> Answer:
        return call(self.base, "POST", path, self.token, body if body is not None else {})

    def get(self, path: str) -> Answer:
        return call(self.base, "GET", path, self.token)

    def patch(self, path: str, body: Any) -> Answer:
        return call(self.base, "PATCH", path, self.token, body)

    def delete(self, path: str) -> Answer:
        return call(self.base, "DELETE", path, self.token)

    def create(self, name: str, **fields: Any) -> Answer:
        return self.post("/v1/knowledge-bases", {"name": name, **fields})

    def add(self, kb: str, *documents: dict[str, Any], **fields: Any) -> Answer:
        return self.post(f"/v1/knowledge-bases/{kb}/documents", {"documents": list(documents), **fields})

    def query(self, kb: str, query: str, **fields: Any) -> Answer:
        return self.post(f"/v1/knowledge-bases/{kb}/query", {"query": query, **fields})

    def upload(self, kb: str, files: list[tuple[str, bytes]], fields: dict[str, str] | None = None) -> Answer:
        boundary = "podium" + secrets.token_hex(8)
        parts: list[bytes] = []
        for name, value in (fields or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for filename, data in files:
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            parts.append(head + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + f"/v1/knowledge-bases/{kb}/documents", data=body, method="POST"
        )
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as e:
            with e:
                return Answer(e.code, e.read(), dict(e.headers))
