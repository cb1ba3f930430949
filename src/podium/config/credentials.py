"""Provider credentials that are more than one API key: AWS (Bedrock), Google (Vertex AI), Entra (Azure).

Each is an optional section of a provider (``providers.<name>.aws`` …). Secrets are ``${ENV}``
references like every secret in the file. :func:`resolve_aws` runs at load time: a Bedrock provider
without keys in the file takes them from the standard ``AWS_*`` variables of the environment the
loader was given, or from a profile of the shared credentials file — read once, at start-up, never on
the request path.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["AwsSettings", "EntraSettings", "GoogleSettings", "resolve_aws"]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AwsSettings(_Section, frozen=True):
    """AWS credentials and Bedrock options. Keys omitted: ``AWS_*`` variables, then ``profile``."""

    access_key_id: Annotated[
        str | None, Meta(description='"${AWS_ACCESS_KEY_ID}"; from the environment when omitted.')
    ] = None
    secret_access_key: Annotated[
        str | None, Meta(description='"${AWS_SECRET_ACCESS_KEY}"; from the environment when omitted.')
    ] = None
    session_token: Annotated[
        str | None, Meta(description="For temporary credentials (AWS_SESSION_TOKEN).")
    ] = None
    profile: Annotated[
        str | None,
        Meta(
            description="A profile of ~/.aws/credentials (or AWS_SHARED_CREDENTIALS_FILE) to read the keys from."
        ),
    ] = None
    guardrail_identifier: Annotated[
        str | None, Meta(description="A Bedrock guardrail applied to every Converse call (its id or ARN).")
    ] = None
    guardrail_version: Annotated[str, Meta(description='The guardrail\'s version ("DRAFT" or a number).')] = (
        "DRAFT"
    )


class GoogleSettings(_Section, frozen=True):
    """Vertex AI: a service-account key file exchanged for OAuth tokens (refreshed before expiry)."""

    credentials_file: Annotated[
        str, Meta(description="Path to the service-account JSON key file (GOOGLE_APPLICATION_CREDENTIALS).")
    ]
    project: Annotated[
        str | None, Meta(description="The Google Cloud project; the key file's project_id when omitted.")
    ] = None
    token_url: Annotated[
        str | None, Meta(description="The OAuth token endpoint; the key file's token_uri when omitted.")
    ] = None


class EntraSettings(_Section, frozen=True):
    """Azure OpenAI with Microsoft Entra ID: a static bearer token, or the client-credentials flow."""

    token: Annotated[
        str | None, Meta(description="A bearer token obtained elsewhere (used as is; never refreshed).")
    ] = None
    tenant_id: Annotated[
        str | None, Meta(description="The directory (tenant) id, for client credentials.")
    ] = None
    client_id: Annotated[str | None, Meta(description="The application (client) id.")] = None
    client_secret: Annotated[
        str | None, Meta(description='The client secret, as a reference: "${AZURE_CLIENT_SECRET}".')
    ] = None
    scope: Annotated[str, Meta(description="The scope requested.")] = (
        "https://cognitiveservices.azure.com/.default"
    )
    token_url: Annotated[
        str | None,
        Meta(
            description="The token endpoint; https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token when omitted."
        ),
    ] = None


def _profile_keys(environ: Mapping[str, str], profile: str) -> dict[str, str] | str:
    """The keys of ``profile`` in the shared credentials file, or why they cannot be read."""
    path = environ.get("AWS_SHARED_CREDENTIALS_FILE")
    if not path:
        home = environ.get("HOME")
        if not home:
            return "no AWS_SHARED_CREDENTIALS_FILE and no HOME to find ~/.aws/credentials"
        path = str(Path(home) / ".aws" / "credentials")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except configparser.Error as exc:
        return f"{path} is not an INI file: {exc}"
    if not parser.has_section(profile):
        return f"{path} has no profile [{profile}]"
    return dict(parser.items(profile))


def resolve_aws(aws: AwsSettings | None, environ: Mapping[str, str]) -> AwsSettings | str:
    """``aws`` with its keys filled in from the file, the environment or the profile; or what is missing."""
    aws = aws or AwsSettings()
    if aws.access_key_id and aws.secret_access_key:
        return aws
    profile = aws.profile
    if profile is None and environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return msgspec.structs.replace(
            aws,
            access_key_id=environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
            session_token=aws.session_token or environ.get("AWS_SESSION_TOKEN") or None,
        )
    keys = _profile_keys(environ, profile or environ.get("AWS_PROFILE") or "default")
    if isinstance(keys, str):
        return (
            "no AWS credentials: set aws.access_key_id and aws.secret_access_key, the AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY variables, or aws.profile ({keys})"
        )
    if not keys.get("aws_access_key_id") or not keys.get("aws_secret_access_key"):
        return f"profile '{profile or 'default'}' has no aws_access_key_id / aws_secret_access_key"
    return msgspec.structs.replace(
        aws,
        access_key_id=keys["aws_access_key_id"],
        secret_access_key=keys["aws_secret_access_key"],
        session_token=keys.get("aws_session_token") or aws.session_token,
    )
