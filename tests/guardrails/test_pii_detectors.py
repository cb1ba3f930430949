"""PII detectors: each finds what its rules confirm, and nothing whose check digits fail."""

from __future__ import annotations

import pytest

from podium.guardrails.pii import PiiScanner

SCANNER = PiiScanner(
    ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "NATIONAL_ID", "IP_ADDRESS", "DATE_OF_BIRTH", "SECRET")
)


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in SCANNER.find(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("mail jane.doe@example.com today", "EMAIL", "jane.doe@example.com"),
        ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
        ("call (415) 555-2671 now", "PHONE", "(415) 555-2671"),
        ("card 4111 1111 1111 1111 ok", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 5500-0000-0000-0004 ok", "CREDIT_CARD", "5500-0000-0000-0004"),
        ("amex 378282246310005 ok", "CREDIT_CARD", "378282246310005"),
        ("iban DE89 3704 0044 0532 0130 00 ok", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("iban GB29NWBK60161331926819.", "IBAN", "GB29NWBK60161331926819"),
        ("iban FR1420041010050500013M02606 ok", "IBAN", "FR1420041010050500013M02606"),
        ("ssn 123-45-6789 ok", "US_SSN", "123-45-6789"),
        ("my SSN is 123456789", "US_SSN", "123456789"),
        ("nino AB 12 34 56 C ok", "UK_NINO", "AB 12 34 56 C"),
        ("sin 130-692-544 ok", "CA_SIN", "130-692-544"),
        ("dni 12345678Z ok", "ES_DNI", "12345678Z"),
        ("nie X1234567L ok", "ES_NIE", "X1234567L"),
        ("nir 1 85 05 78 006 084 91 ok", "FR_NIR", "1 85 05 78 006 084 91"),
        ("cf RSSMRA85T10A562S ok", "IT_FISCAL_CODE", "RSSMRA85T10A562S"),
        ("mijn BSN is 111222333", "NL_BSN", "111222333"),
        ("aadhaar 2345 6789 0124 ok", "IN_AADHAAR", "2345 6789 0124"),
        ("cpf 111.444.777-35 ok", "BR_CPF", "111.444.777-35"),
        ("host 192.168.1.20 up", "IP_ADDRESS", "192.168.1.20"),
        ("host 2001:db8::1 up", "IP_ADDRESS", "2001:db8::1"),
        ("I was born on 12 March 1985.", "DATE_OF_BIRTH", "12 March 1985"),
        ("DOB: 1985-03-12", "DATE_OF_BIRTH", "1985-03-12"),
    ],
)
def test_detects_valid(text: str, kind: str, value: str) -> None:
    """A well-formed identifier whose checks pass is found, with its exact span."""
    assert (kind, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 (Luhn fails)",
        "card 4111 1111-1111 1111 (mixed separators)",
        "number 9999 9999 9999 9995 (no card network)",
        "iban DE89 3704 0044 0532 0130 01 (mod 97 fails)",
        "iban DE89 3704 0044 0532 0130 (too short for DE)",
        "ssn 000-12-3456, 666-12-3456, 912-12-3456, 123-00-4567 (never issued)",
        "order 123456789 shipped (nine digits, no SSN nearby)",
        "nino BG 12 34 56 A and DA123456A (prefixes never used)",
        "sin 130-692-545 (Luhn fails)",
        "dni 12345678A (wrong letter)",
        "nir 1 85 05 78 006 084 92 (wrong key)",
        "cf RSSMRA85T10A562T (wrong check letter)",
        "BSN 111222334 (elfproef fails)",
        "aadhaar 2345 6789 0125 (Verhoeff fails)",
        "cpf 111.444.777-36 and 111.111.111-11",
        "version 999.1.1.1 and 1.2.3",
        "the meeting is on 12 March 2024",
        "born on 31/02/1990 (no such date)",
        "user@localhost has no domain",
        "call 555 12 (too short)",
    ],
)
def test_rejects_invalid(text: str) -> None:
    """A look-alike whose checksum, issuing rule, context or date fails is not reported."""
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "detail", "value"),
    [
        ("key AKIAIOSFODNN7EXAMPLE", "aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
        (
            "t ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 x",
            "github_token",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        ),
        (
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
            "openai_api_key",
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
        ),
        (
            "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv",
            "anthropic_api_key",
            "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv",
        ),
        ('password = "Tr0ub4dor&3x!"', "assigned_secret", "Tr0ub4dor&3x!"),
        (
            "Her SSN is on file. The new db password is Qx7#mZ2$vL9p, keep it",
            "assigned_secret",
            "Qx7#mZ2$vL9p",
        ),
        ('{"user": "ana", "client_secret": "aB3dE5fG7hJ9kL"}', "assigned_secret", "aB3dE5fG7hJ9kL"),
        ("postgres://app:hunter2pass@db:5432/x", "url_password", "hunter2pass"),
        (
            "blob Zq8XvR2mN7pL4kJ9hG3fD6sA1wE5tY0uI8oP",
            "high_entropy_token",
            "Zq8XvR2mN7pL4kJ9hG3fD6sA1wE5tY0uI8oP",
        ),
    ],
)
def test_secrets(text: str, detail: str, value: str) -> None:
    """Well-known key formats, assigned secrets, URL passwords and random tokens are secrets."""
    hits = [(f.detail, text[f.start : f.end]) for f in SCANNER.find(text) if f.kind == "SECRET"]
    assert (detail, value) in hits


def test_private_key_block_is_one_secret() -> None:
    """A PEM private key block is one finding from BEGIN to END."""
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY-----"
    (finding,) = SCANNER.find(f"here: {pem} done")
    assert finding.detail == "private_key" and finding.end - finding.start == len(pem)


@pytest.mark.parametrize(
    "text",
    [
        "the password is required",
        "internationalization_localization_framework_configuration",
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_not_secrets(text: str) -> None:
    """Words, long identifiers and hex digests are not secrets."""
    assert found(text) == []


def test_overlaps_keep_the_more_certain_kind() -> None:
    """A card number is not also reported as a phone number or any shorter number inside it."""
    assert found("pay with 4111111111111111 please") == [("CREDIT_CARD", "4111111111111111")]


def test_entities_select_detectors() -> None:
    """Only the configured entities are reported."""
    only_email = PiiScanner(("EMAIL",))
    text = "jane@example.com 4111 1111 1111 1111"
    assert [f.kind for f in only_email.find(text)] == ["EMAIL"]


def test_odd_text_never_raises() -> None:
    """Control characters, lone surrogates and huge digit runs are scanned without an error."""
    weird = "\x00\x01\ud800 " + "1" * 5000 + " \ufffd<EMAIL_1> @@@ ::::::: " + "9-" * 3000
    SCANNER.find(weird)
