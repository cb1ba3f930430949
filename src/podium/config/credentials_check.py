"""The loader's checks of provider credentials, and the start-up resolution of AWS keys.

Kept apart from :mod:`podium.config.loader` so that each provider family's rules sit together: which
section belongs to which type, what Vertex AI and Bedrock need besides a key, and whether a
service-account file can actually be used (it is read and its key parsed, so ``podium check`` finds a
bad file before the first request does).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec

from podium.config.credentials import resolve_aws
from podium.config.model import Config, Provider
from podium.errors import ConfigProblem

__all__ = ["check_credentials", "resolve_credentials"]

_SECTION_TYPES = {"aws": "bedrock", "google": "vertex", "entra": "azure"}


def _url(path: str, value: str | None) -> list[ConfigProblem]:
    if value is None:
        return []
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.netloc:
        return [ConfigProblem(path, f"must be an http:// or https:// URL, got '{value}'")]
    return []


def check_credentials(path: str, p: Provider) -> list[ConfigProblem]:
    """Problems with ``p``'s credential sections, and with what its type needs besides a key."""
    problems: list[ConfigProblem] = []
    for section, wanted in _SECTION_TYPES.items():
        if getattr(p, section) is not None and p.type != wanted:
            problems.append(ConfigProblem(f"{path}.{section}", f"only for type '{wanted}', not '{p.type}'"))
    if p.type == "bedrock":
        if not p.region:
            problems.append(
                ConfigProblem(f"{path}.region", "required for type 'bedrock': the AWS region, like us-east-1")
            )
        if p.api_key is not None:
            problems.append(
                ConfigProblem(f"{path}.api_key", "Bedrock signs requests with aws keys; use the aws section")
            )
    if p.type == "vertex":
        if not p.region:
            problems.append(
                ConfigProblem(
                    f"{path}.region", "required for type 'vertex': the location, like us-central1 or global"
                )
            )
        if p.google is None:
            problems.append(
                ConfigProblem(f"{path}.google", "required for type 'vertex' (credentials_file, project)")
            )
        else:
            problems += _check_google(f"{path}.google", p)
    if p.entra is not None:
        e = p.entra
        if e.token is None and not (e.client_id and e.client_secret and (e.tenant_id or e.token_url)):
            problems.append(
                ConfigProblem(
                    f"{path}.entra", "give `token`, or `tenant_id`, `client_id` and `client_secret`"
                )
            )
        if p.api_key is not None:
            problems.append(ConfigProblem(f"{path}.api_key", "give either api_key or entra, not both"))
        problems += _url(f"{path}.entra.token_url", e.token_url)
    return problems


def _check_google(path: str, p: Provider) -> list[ConfigProblem]:
    from podium.providers.oauth import load_service_account

    assert p.google is not None
    problems = _url(f"{path}.token_url", p.google.token_url)
    try:
        account = load_service_account(p.google.credentials_file)
    except ValueError as exc:
        return [*problems, ConfigProblem(f"{path}.credentials_file", str(exc))]
    if not p.google.project and not account.project_id:
        problems.append(ConfigProblem(f"{path}.project", "required: the key file names no project_id"))
    return problems


def resolve_credentials(config: Config, environ: Mapping[str, str], problems: list[ConfigProblem]) -> Config:
    """``config`` with every Bedrock provider's AWS keys resolved from the file, environment or profile."""
    changed: dict[str, Provider] = {}
    for name, p in config.providers.items():
        if p.type != "bedrock":
            continue
        aws = resolve_aws(p.aws, environ)
        if isinstance(aws, str):
            problems.append(ConfigProblem(f"providers.{name}.aws", aws))
            continue
        region = p.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
        changed[name] = msgspec.structs.replace(p, aws=aws, region=region)
    if not changed:
        return config
    return msgspec.structs.replace(config, providers={**config.providers, **changed})
