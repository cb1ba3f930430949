"""Bad input gets the right status and an OpenAI-shaped error that names the problem."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import openai
import pytest

from tests.harness import GatewayThread


def post(
    gw: GatewayThread, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object], dict[str, str]]:
    req = urllib.request.Request(gw.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)


def chat(
    gw: GatewayThread, body: bytes, *, key: str | None = None, ctype: str = "application/json"
) -> tuple[int, dict[str, object], dict[str, str]]:
    headers = {"Content-Type": ctype}
    headers["Authorization"] = f"Bearer {key or gw.key}"
    return post(gw, "/v1/chat/completions", body, headers)


def error_of(body: dict[str, object]) -> dict[str, object]:
    err = body["error"]
    assert isinstance(err, dict)
    assert set(err) == {"message", "type", "param", "code"}
    return err


def test_malformed_json(gateway: GatewayThread) -> None:
    """Malformed JSON is a 400 invalid_request_error that says the body is not JSON."""
    status, body, _ = chat(gateway, b'{"model": "sim/echo", "messages": [')
    assert status == 400
    err = error_of(body)
    assert err["type"] == "invalid_request_error" and "not valid JSON" in str(err["message"])


def test_missing_field_is_named(gateway: GatewayThread) -> None:
    """A missing required field is a 400 that names it."""
    status, body, _ = chat(gateway, json.dumps({"model": "sim/echo"}).encode())
    assert status == 400 and "messages" in str(error_of(body)["message"])


def test_ill_typed_field_is_named(gateway: GatewayThread) -> None:
    """An ill-typed field is a 400 whose param points at it."""
    body = {"model": "sim/echo", "messages": [{"role": "user", "content": 42}]}
    status, resp, _ = chat(gateway, json.dumps(body).encode())
    err = error_of(resp)
    assert status == 400 and err["param"] == "messages[0].content"


def test_unknown_role(gateway: GatewayThread) -> None:
    """An unknown message role is refused with a 400."""
    body = {"model": "sim/echo", "messages": [{"role": "wizard", "content": "hi"}]}
    status, resp, _ = chat(gateway, json.dumps(body).encode())
    assert status == 400 and "messages[0].role" in str(error_of(resp)["param"])


def test_unknown_model(gateway: GatewayThread) -> None:
    """An unknown model is a 404 model_not_found, which the SDK raises as NotFoundError."""
    with (
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0) as c,
        pytest.raises(openai.NotFoundError) as exc,
    ):
        c.chat.completions.create(model="gpt-nonexistent", messages=[{"role": "user", "content": "x"}])
    assert exc.value.code == "model_not_found"
    assert "gpt-nonexistent" in exc.value.message


def test_unknown_simulator_mode_is_unknown_model(gateway: GatewayThread) -> None:
    """A sim/ name with an unknown mode is an unknown model, not a server error."""
    status, body, _ = chat(
        gateway, json.dumps({"model": "sim/nope", "messages": [{"role": "user", "content": "x"}]}).encode()
    )
    assert status == 404 and error_of(body)["code"] == "model_not_found"


def test_body_over_limit(gateway: GatewayThread) -> None:
    """A body over the configured limit is a 413, answered without reading it all."""
    limit = gateway.config.server.max_body_bytes
    big = json.dumps(
        {"model": "sim/echo", "messages": [{"role": "user", "content": "x" * (limit + 10)}]}
    ).encode()
    try:
        status, body, _ = chat(gateway, big)
    except (ConnectionResetError, BrokenPipeError, urllib.error.URLError):
        pytest.skip(
            "the server closed the connection before the client finished sending"
        )  # acceptable for 413
    assert status == 413 and error_of(body)["code"] == "body_too_large"


def test_wrong_content_type(gateway: GatewayThread) -> None:
    """A form-encoded body is a 415 that says to send JSON."""
    status, body, _ = chat(gateway, b"model=sim/echo", ctype="application/x-www-form-urlencoded")
    assert status == 415 and "application/json" in str(error_of(body)["message"])


def test_missing_and_unknown_key(gateway: GatewayThread) -> None:
    """No key or an unknown key is a 401 authentication_error."""
    ok = json.dumps({"model": "sim/echo", "messages": [{"role": "user", "content": "x"}]}).encode()
    status, body, headers = post(gateway, "/v1/chat/completions", ok, {"Content-Type": "application/json"})
    assert status == 401 and error_of(body)["type"] == "authentication_error"
    assert "Bearer" in headers.get("WWW-Authenticate", "")
    status, body, _ = chat(gateway, ok, key="pk-not-a-real-key")
    assert status == 401


def test_x_api_key_header_accepted(gateway: GatewayThread) -> None:
    """The key may come in the x-api-key header instead of Authorization."""
    ok = json.dumps({"model": "sim/echo", "messages": [{"role": "user", "content": "via header"}]}).encode()
    status, body, _ = post(
        gateway, "/v1/chat/completions", ok, {"Content-Type": "application/json", "x-api-key": gateway.key}
    )
    assert status == 200 and body["choices"][0]["message"]["content"] == "via header"  # type: ignore[index]


def test_revoked_key_stops_within_a_second(gateway: GatewayThread) -> None:
    """A key revoked in storage (as the CLI does) stops working within a second."""
    secret = gateway.new_key(name="short-lived")
    ok = json.dumps({"model": "sim/echo", "messages": [{"role": "user", "content": "x"}]}).encode()
    assert chat(gateway, ok, key=secret)[0] == 200
    key_id = next(k.id for k in gateway.run(lambda: gateway.storage.keys.list()) if k.name == "short-lived")
    gateway.run(lambda: gateway.storage.keys.revoke(key_id, at=time.time()))
    deadline = time.monotonic() + 1.0
    while chat(gateway, ok, key=secret)[0] == 200:
        assert time.monotonic() < deadline, "revoked key still accepted after 1 s"
        time.sleep(0.05)
    status, body, _ = chat(gateway, ok, key=secret)
    assert status == 401 and error_of(body)["code"] == "revoked_api_key"


def test_model_not_allowed_for_key(gateway: GatewayThread) -> None:
    """A key limited to some models gets a 403 for any other."""
    narrow = gateway.new_key(models=["sim/echo"])
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=narrow, max_retries=0) as c:
        assert c.chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": "x"}]
        ).choices
        with pytest.raises(openai.PermissionDeniedError):
            c.chat.completions.create(model="sim/lorem", messages=[{"role": "user", "content": "x"}])


def test_unknown_path_and_method(gateway: GatewayThread) -> None:
    """An unknown path is a 404 and a wrong method a 405, both in OpenAI's error shape."""
    status, body, _ = post(gateway, "/v1/nothing-here", b"{}", {"Content-Type": "application/json"})
    assert status == 404 and error_of(body)["type"] == "not_found_error"
    req = urllib.request.Request(gateway.url + "/v1/chat/completions", method="GET")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    exc.value.close()
    assert exc.value.code == 405


def test_rejected_requests_leave_no_record(gateway: GatewayThread) -> None:
    """Requests refused before a model was known (bad JSON, bad key) leave no request record."""
    chat(gateway, b"{nope")
    chat(gateway, json.dumps({"model": "sim/echo", "messages": []}).encode(), key="pk-wrong")
    chat(gateway, json.dumps({"model": "sim/echo", "messages": [{"role": "user", "content": "ok"}]}).encode())
    records = gateway.wait_records(1)
    time.sleep(0.1)
    assert [r.status for r in gateway.records()] == [200]
    assert len(records) == 1
