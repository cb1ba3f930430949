"""API keys, tokens and other secrets: well-known formats, plus entropy for the ones without one.

A provider's key format (``AKIA…``, ``ghp_…``, ``sk-ant-…``) is certain. A value assigned to a name
that says secret (``password = …``, ``"api_key": "…"``) counts when it is not a word, and a long token
counts on its own when its characters are as random as a key's (Shannon entropy, bits per character).
The finding's ``detail`` names the format, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from podium.guardrails.pii.patterns import Prepared
from podium.guardrails.scanner import Finding

__all__ = ["entropy", "find_secrets"]

# Token formats, matched against each long token of the text (one pass finds the tokens).
_TOKEN_FORMATS: list[tuple[str, str]] = [
    ("aws_access_key_id", r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}"),
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"),
    ("gitlab_token", r"glpat-[A-Za-z0-9_\-]{20,}"),
    ("slack_token", r"xox[abposr]-[A-Za-z0-9\-]{10,}"),
    ("stripe_key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("anthropic_api_key", r"sk-ant-[a-z]{3,8}\d{2}-[A-Za-z0-9_\-]{20,}"),
    ("openai_api_key", r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}"),
    ("google_api_key", r"AIza[0-9A-Za-z_\-]{35}"),
    ("google_oauth_secret", r"GOCSPX-[A-Za-z0-9_\-]{28}"),
    ("huggingface_token", r"hf_[A-Za-z0-9]{34,}"),
    ("npm_token", r"npm_[A-Za-z0-9]{36}"),
    ("pypi_token", r"pypi-AgE[A-Za-z0-9_\-]{50,}"),
    ("sendgrid_key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("twilio_key", r"SK[0-9a-fA-F]{32}"),
    ("podium_key", r"pk-[A-Za-z0-9_\-]{43}"),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}"),
]
_TOKEN_FORMAT = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKEN_FORMATS))
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/.=]{20,}")

# Formats that are not one token, each behind a substring test.
_BLOCKS: list[tuple[str, str, re.Pattern[str]]] = [
    (
        "-----BEGIN",
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,8192}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"
        ),
    ),
    (
        "hooks.slack.com",
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
    ),
    ("AccountKey=", "azure_storage_key", re.compile(r"AccountKey=[A-Za-z0-9+/]{86}==")),
    ("SharedAccessSignature=", "azure_sas", re.compile(r"SharedAccessSignature=[^\s;\"']{20,}")),
]

# user:password@ in a URL (postgres://app:hunter2@db/...): the password is the secret.
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]{1,64}:([^\s@/]{3,128})@", re.IGNORECASE)

# password = x, "api_key": "x", token: x … the value is the secret.
_OPERATOR = re.compile(r"[:=]")
_NAME_REACH = 24  # "client_secret"  = … : how far before an operator the name may start
_ASSIGNED_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "bearer")
_ASSIGNED = re.compile(
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key"
    r"|client[_\-]?secret|auth(?:orization)?|credentials?|bearer)"
    r"[\"']?\s*(?:[:=]|=>|\bis\b)\s*[\"']?(?:bearer\s+)?([^\s\"',;<>]{8,200})",
    re.IGNORECASE,
)

ASSIGNED_MIN_ENTROPY = 3.0  # bits per character: "hunter2!x" passes, "password" or "changeme" do not
TOKEN_MIN_ENTROPY = 4.2  # a 32+ character token this random is a key (hex tops out at 4.0)


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    n = len(text)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _mixed(token: str) -> bool:
    return (
        any(c.isdigit() for c in token)
        and any(c.isupper() for c in token)
        and any(c.islower() for c in token)
    )


def find_secrets(p: Prepared) -> list[Finding]:
    text = p.text
    found = []
    for m in _TOKEN.finditer(text):
        token = m.group().rstrip(".")
        known = _TOKEN_FORMAT.fullmatch(token)
        if known is not None:
            found.append(Finding("SECRET", m.start(), m.start() + len(token), detail=known.lastgroup))
        elif 32 <= len(token) <= 256 and _mixed(token) and entropy(token) >= TOKEN_MIN_ENTROPY:
            found.append(Finding("SECRET", m.start(), m.start() + len(token), detail="high_entropy_token"))
    for marker, detail, pattern in _BLOCKS:
        if marker in text:
            found += [Finding("SECRET", m.start(), m.end(), detail=detail) for m in pattern.finditer(text)]
    if "://" in text:
        found += [
            Finding("SECRET", m.start(1), m.end(1), detail="url_password")
            for m in _URL_PASSWORD.finditer(text)
        ]
    lower = p.lower
    if any(word in lower for word in _ASSIGNED_WORDS):
        # Only where an assignment can be: a ':' or '=' (found by a fast scan) or an " is ", with one
        # of the secret-naming words just before it ("Her SSN is …" is not read again).
        def named(at: int) -> bool:
            before = lower[max(0, at - _NAME_REACH) : at]
            return any(word in before for word in _ASSIGNED_WORDS)

        starts = {max(0, m.start() - _NAME_REACH) for m in _OPERATOR.finditer(text) if named(m.start())}
        at = lower.find(" is ")
        while at >= 0:
            if named(at):
                starts.add(max(0, at - _NAME_REACH))
            at = lower.find(" is ", at + 1)
        spans: list[list[int]] = []
        for start in sorted(starts):  # merged, so that no part of the text is read twice
            end = start + _NAME_REACH + 208  # the name, the operator, quotes and a value of up to 200
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        for start, end in spans:
            for m in _ASSIGNED.finditer(text, start, end):
                value = m.group(1)
                if value.isalpha() and value.islower():
                    continue  # a word: "the password is required"
                if entropy(value) >= ASSIGNED_MIN_ENTROPY:
                    found.append(Finding("SECRET", m.start(1), m.end(1), detail="assigned_secret"))
    return found
