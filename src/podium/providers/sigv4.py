"""AWS Signature Version 4 for request headers, as AWS's signing documentation specifies it.

``sign`` returns the headers to add (``x-amz-date``, ``x-amz-security-token`` with temporary
credentials, ``authorization``). The canonical URI is the path *as sent*, URI-encoded once more
(every service but S3 signs it that way), so a Bedrock model id with ``:`` (sent as ``%3A``) is
signed as ``%253A``. Tested against AWS's published test-suite vectors (tests/providers/test_sigv4.py);
``verify`` is the server's half, which the simulator uses to check what Podium signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

__all__ = ["AwsCredentials", "canonical_request", "sign", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    items = sorted((k.lower().strip(), " ".join(str(v).split())) for k, v in headers.items())
    return "".join(f"{k}:{v}\n" for k, v in items), ";".join(k for k, _ in items)


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], payload_hash: str
) -> tuple[str, str]:
    """The canonical request text and the signed-headers list."""
    canonical_headers, signed = _canonical_headers(headers)
    text = "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/-_.~"),
            _canonical_query(query),
            canonical_headers,
            signed,
            payload_hash,
        ]
    )
    return text, signed


def _signature(secret: str, amz_date: str, region: str, service: str, creq: str) -> tuple[str, str]:
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    return hmac.new(
        signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest(), scope


def sign(
    *,
    method: str,
    host: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign this request: add them to ``headers`` (which are all signed, with ``host``)."""
    amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    added = {"x-amz-date": amz_date}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    signed_headers = {"host": host, **{k.lower(): v for k, v in headers.items()}, **added}
    creq, signed = canonical_request(method, path, query, signed_headers, hashlib.sha256(body).hexdigest())
    signature, scope = _signature(credentials.secret_access_key, amz_date, region, service, creq)
    added["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return added


def verify(
    *, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, secret: str
) -> str | None:
    """``None`` if ``headers['authorization']`` is a valid signature of this request with ``secret``,
    else why not. Region and service are taken from the credential scope."""
    auth = headers.get("authorization") or headers.get("Authorization") or ""
    if not auth.startswith(ALGORITHM + " "):
        return "no AWS4-HMAC-SHA256 authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len(ALGORITHM) + 1 :].split(",") if "=" in part)
    try:
        _key_id, date, region, service, _ = fields["Credential"].split("/")
        names = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed authorization header"
    lowered = {k.lower(): v for k, v in headers.items()}
    amz_date = lowered.get("x-amz-date", "")
    if amz_date[:8] != date:
        return "x-amz-date does not match the credential scope"
    missing = [n for n in names if n not in lowered]
    if missing:
        return f"signed header(s) missing: {', '.join(missing)}"
    creq, _ = canonical_request(
        method, path, query, {n: lowered[n] for n in names}, hashlib.sha256(body).hexdigest()
    )
    expected, _ = _signature(secret, amz_date, region, service, creq)
    return None if hmac.compare_digest(expected, given) else "signature does not match"
