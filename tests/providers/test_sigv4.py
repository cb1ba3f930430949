"""SigV4 signing against AWS's published Signature Version 4 test-suite vectors.

Credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 2015-08-30T12:36:00Z,
us-east-1, service "service", host example.amazonaws.com, as the suite defines them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podium.providers.sigv4 import AwsCredentials, canonical_request, sign, verify

CREDENTIALS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)
HOST = "example.amazonaws.com"


@pytest.mark.parametrize(
    ("name", "method", "path", "query", "signature"),
    [
        ("get-vanilla", "GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        ("post-vanilla", "POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("get-utf8", "GET", "/ሴ", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ],
)
def test_aws_test_suite_vectors(name: str, method: str, path: str, query: str, signature: str) -> None:
    """Each vector of AWS's SigV4 test suite signs to its published authorization header."""
    added = sign(
        method=method,
        host=HOST,
        path=path,
        query=query,
        headers={},
        body=b"",
        credentials=CREDENTIALS,
        region="us-east-1",
        service="service",
        now=NOW,
    )
    assert added["x-amz-date"] == "20150830T123600Z"
    assert added["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    headers = {"host": HOST, **added}
    assert (
        verify(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=b"",
            secret=CREDENTIALS.secret_access_key,
        )
        is None
    )
    assert verify(
        method=method,
        path=path + "x",
        query=query,
        headers=headers,
        body=b"",
        secret=CREDENTIALS.secret_access_key,
    )


def test_session_token_is_sent_and_signed() -> None:
    """Temporary credentials add x-amz-security-token, which is among the signed headers."""
    creds = AwsCredentials("AKID", "secret", session_token="token")
    added = sign(
        method="POST",
        host=HOST,
        path="/",
        headers={"content-type": "application/json"},
        body=b"{}",
        credentials=creds,
        region="us-east-1",
        service="bedrock",
        now=NOW,
    )
    assert added["x-amz-security-token"] == "token"
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in added["authorization"]


def test_bedrock_model_id_is_encoded_twice_in_the_canonical_uri() -> None:
    """A model id sent as …v2%3A0 is signed as …v2%253A0, as every AWS service but S3 expects."""
    text, _ = canonical_request("POST", "/model/anthropic.claude-v2%3A0/converse", "", {"host": HOST}, "e3b0")
    assert text.splitlines()[1] == "/model/anthropic.claude-v2%253A0/converse"
