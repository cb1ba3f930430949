"""Which API a request to the standalone simulator speaks, how that API authenticates, how it errs.

The simulator answers several wire protocols on one port, told apart by path::

    /v1/messages                                   anthropic   x-api-key + anthropic-version
    /v1beta/models/{model}:{method}                gemini      x-goog-api-key (or ?key=)
    /v1/projects/{p}/locations/{l}/publishers/…    vertex      Authorization: Bearer <token from /sim/oauth/token>
    /model/{modelId}/{converse|converse-stream|invoke}  bedrock  SigV4, signed with --api-key as the secret key
    /openai/deployments/{deployment}/…             azure       api-key, or a bearer token; ?api-version required
    /v1/…                                          openai      Authorization: Bearer

Each answers its errors in its own JSON shape (and Bedrock with ``x-amzn-ErrorType``), so every
adapter is tested against the error bodies its provider really sends. ``POST /sim/oauth/token``
stands in for Google's and Microsoft's token endpoints: it checks the JWT-bearer assertion's claims or
the client credentials and issues short-lived bearer tokens (``?expires_in=`` sets their lifetime,
``?deny`` refuses every grant).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Literal

from aiohttp import web

from podium.providers.sigv4 import verify

__all__ = ["Dialect", "check_access", "dialect_of", "error_response", "oauth_token"]

Dialect = Literal["openai", "anthropic", "gemini", "vertex", "bedrock", "azure", "oauth"]

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_AWS_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_counter = itertools.count(1)


def dialect_of(path: str) -> Dialect | None:
    if path == "/v1/messages":
        return "anthropic"
    if path.startswith("/v1beta/"):
        return "gemini"
    if path.startswith("/v1/projects/"):
        return "vertex"
    if path.startswith("/model/"):
        return "bedrock"
    if path.startswith("/openai/"):
        return "azure"
    if path.startswith("/sim/oauth/"):
        return "oauth"
    if path.startswith("/v1/"):
        return "openai"
    return None


def error_response(
    dialect: Dialect, status: int, message: str, *, retry_after: float | None = None, type_: str | None = None
) -> web.Response:
    """An error in ``dialect``'s own shape (OpenAI's is built by the server module)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    body: object
    if dialect == "anthropic":
        kind = type_ or _ANTHROPIC_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
        headers["request-id"] = f"req_sim{next(_counter):08d}"
    elif dialect in ("gemini", "vertex"):
        body = {
            "error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}
        }
    elif dialect == "bedrock":
        kind = type_ or _AWS_ERRORS.get(status, "InternalServerException")
        headers["x-amzn-ErrorType"] = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        body = {"message": message}
    else:  # oauth, and OpenAI's shape for azure
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers
    )


def check_access(
    request: web.Request, dialect: Dialect, body: bytes, api_key: str | None, tokens: dict[str, float]
) -> web.Response | None:
    """The error to answer instead, when the request lacks the credential its dialect requires."""
    h = request.headers
    if dialect == "anthropic" and "anthropic-version" not in h:
        return error_response(dialect, 400, "anthropic-version: header is required")
    if dialect == "azure" and "api-version" not in request.query:
        return error_response(dialect, 404, "Resource not found: the api-version query parameter is required")
    if api_key is None or dialect == "oauth":
        return None
    bearer = h.get("Authorization", "").removeprefix("Bearer ")
    valid_token = tokens.get(bearer, 0.0) > time.time()
    problem: str | None = None
    if dialect == "anthropic":
        if h.get("x-api-key") != api_key:
            problem = "invalid x-api-key"
    elif dialect == "gemini":
        if h.get("x-goog-api-key", request.query.get("key")) != api_key:
            problem = "API key not valid. Please pass a valid API key."
    elif dialect == "vertex":
        if not valid_token:
            problem = "Request had invalid authentication credentials. Expected OAuth 2 access token."
    elif dialect == "bedrock":
        problem = verify(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=request.query_string,
            headers=h,
            body=body,
            secret=api_key,
        )
        if problem is not None:
            return error_response(
                dialect, 403, f"The request signature is invalid: {problem}", type_="AccessDeniedException"
            )
    elif dialect == "azure":
        if h.get("api-key") != api_key and not valid_token:
            problem = "Access denied due to invalid subscription key or wrong API endpoint."
    elif bearer != api_key and not valid_token:
        return _openai_unauthorized(request)
    return error_response(dialect, 401, problem) if problem else None


def _openai_unauthorized(request: web.Request) -> web.Response:
    given = "Authorization" in request.headers
    message = "Incorrect API key provided." if given else "You didn't provide an API key."
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    return web.Response(status=401, body=json.dumps(body).encode(), content_type="application/json")


def _claims(assertion: str) -> dict[str, object] | str:
    try:
        header_b64, claims_b64, signature = assertion.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    except ValueError:
        return "the assertion is not a JWT"
    if header.get("alg") != "RS256" or not signature:
        return "the assertion is not signed with RS256"
    if not isinstance(claims, dict):
        return "the assertion's claims are not an object"
    return claims


async def oauth_token(request: web.Request, api_key: str | None, tokens: dict[str, float]) -> web.Response:
    """``POST /sim/oauth/token``: the JWT-bearer grant (Google) or client credentials (Entra)."""
    form = await request.post()
    if "deny" in request.query:
        return error_response("oauth", 400, "invalid_grant: Invalid JWT Signature.")
    grant = str(form.get("grant_type", ""))
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        claims = _claims(str(form.get("assertion", "")))
        if isinstance(claims, str):
            return error_response("oauth", 400, claims)
        now = time.time()
        exp = claims.get("exp")
        if not claims.get("iss") or not claims.get("scope") or not isinstance(exp, int) or exp < now:
            return error_response("oauth", 400, "invalid_grant: the assertion lacks iss/scope or has expired")
    elif grant == "client_credentials":
        if not form.get("client_id") or (api_key is not None and form.get("client_secret") != api_key):
            return error_response("oauth", 401, "invalid_client: AADSTS7000215 invalid client secret")
    else:
        return error_response("oauth", 400, f"unsupported_grant_type: {grant}")
    lifetime = float(request.query.get("expires_in", "3600"))
    token = f"sim-token-{next(_counter)}"
    tokens[token] = time.time() + lifetime
    return web.json_response({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})
