"""Alert rules over rolling windows, evaluated by a running gateway: an error-rate jump notifies a
local webhook and a Slack-compatible endpoint once (two replicas, one lease), its recovery resolves
it; a cost spike against the learned baseline fires and reaches a webhook and an SMTP inbox."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from podium.storage.records import RequestRecord
from tests.admin_client import call
from tests.alerting.receiver import Receiver
from tests.harness import GatewayThread, make_config, sqlite_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


def _config(receiver: Receiver, model: str) -> Any:
    return make_config(
        {
            "deployments": {"unstable": {"provider": "sim", "model": model}},
            "routing": {"breaker": {"enabled": False}},
            "alerting": {
                "interval_seconds": 0.1,
                "channels": {
                    "hook": {"type": "webhook", "url": receiver.url + "/hook"},
                    "chat": {"type": "slack", "url": receiver.url + "/slack"},
                },
                "rules": {
                    "errors": {
                        "metric": "error_rate",
                        "window": "1s",
                        "above": 0.3,
                        "group_by": "deployment",
                        "min_requests": 3,
                        "channels": ["hook", "chat"],
                        "severity": "critical",
                    }
                },
            },
        }
    )


def _send(gw: GatewayThread, n: int) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
        for i in range(n):
            with contextlib.suppress(openai.APIStatusError):
                client.chat.completions.create(
                    model="unstable", messages=[{"role": "user", "content": f"m{i}"}]
                )


def test_error_rate_jump_fires_once_then_resolves(tmp_path: Path, receiver: Receiver) -> None:
    """A deployment whose error rate jumps fires one alert on each channel; when it recovers, one resolve."""
    url = sqlite_url(tmp_path)
    gw = GatewayThread(_config(receiver, "echo"), url).start()
    other = GatewayThread(_config(receiver, "echo"), url).start()  # a second replica on the same storage
    try:
        _send(gw, 4)
        time.sleep(0.4)
        assert receiver.received.get("/hook") is None  # healthy traffic: nothing fires
        failing = _config(receiver, "echo?status=500")
        gw.reload(failing)
        _send(gw, 4)
        fired = receiver.wait("/hook", lambda got: len(got) >= 1)
        assert len(fired) == 1, fired
        alert = fired[0]
        assert alert["status"] == "firing" and alert["rule"] == "errors" and alert["group"] == "unstable"
        assert alert["value"] > 0.3 and alert["severity"] == "critical"
        assert "error_rate" in alert["condition"]
        slack = receiver.wait("/slack", lambda got: len(got) >= 1)
        assert slack[0]["text"].startswith(":rotating_light: [FIRING] errors (deployment=unstable)")
        # Recovery: the failures age out of the 1 s window and healthy traffic follows.
        gw.reload(_config(receiver, "echo"))
        time.sleep(1.1)
        _send(gw, 4)
        events = receiver.wait("/hook", lambda got: len(got) >= 2)
        time.sleep(0.4)  # a few more rounds: a repeated notification would show up now
        events = receiver.received["/hook"]
        assert [e["status"] for e in events] == ["firing", "resolved"]
        assert [m["text"].split()[1] for m in receiver.received["/slack"]] == ["[FIRING]", "[RESOLVED]"]
        assert gw.gateway.telemetry.alerts.evaluations + other.gateway.telemetry.alerts.evaluations > 4
        view = call(gw.url, "GET", "/admin/alerts", token=gw.admin_key).json()
        assert [h["kind"] for h in view["history"]] == ["resolved", "fired"]
        assert view["history"][1]["deliveries"] == {"hook": "ok", "chat": "ok"}
        assert view["firing"] == [] and view["states"][0]["status"] == "resolved"
        assert view["rules"]["errors"]["metric"] == "error_rate"
    finally:
        other.stop()
        gw.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cost_spike_fires_against_the_baseline(tmp_path: Path, receiver: Receiver) -> None:
    """Spend far above the EWMA baseline of the previous windows fires, by webhook and by email."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    inbox = Inbox()
    port = _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    config = make_config(
        {
            "deployments": {
                "pricey": {
                    "provider": "sim",
                    "model": "lorem?words=400",
                    "price": {"input": 50.0, "output": 500.0},
                }
            },
            "alerting": {
                "interval_seconds": 0.1,
                "channels": {
                    "hook": {"type": "webhook", "url": receiver.url + "/cost"},
                    "mail": {
                        "type": "email",
                        "smtp_host": "127.0.0.1",
                        "smtp_port": port,
                        "sender": "podium@example.com",
                        "to": ["oncall@example.com"],
                    },
                },
                "rules": {
                    "spend": {
                        "metric": "cost_usd",
                        "window": "2s",
                        "anomaly": {"baseline_windows": 6, "deviations": 3, "min_delta": 0.01},
                        "channels": ["hook", "mail"],
                        "description": "spend spike",
                    }
                },
            },
        }
    )
    gw = GatewayThread(config, sqlite_url(tmp_path)).start()
    try:
        # The baseline: what the previous windows recorded, a steady trickle of cheap calls.
        now = time.time()
        history = [
            RequestRecord(id=f"old-{w}-{i}", created_at=now - 2 * (w + 1) + 0.1 * i, key_id="k",
                          requested_model="pricey", status=200, latency_ms=5.0, cost_usd=0.001 * (1 + (w % 2)))
            for w in range(6) for i in range(2)
        ]  # fmt: skip
        gw.run(lambda: gw.storage.requests.append_many(history))
        time.sleep(0.3)
        assert receiver.received.get("/cost") is None
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
            for _ in range(3):
                client.chat.completions.create(
                    model="pricey", messages=[{"role": "user", "content": "spend"}]
                )
        fired = receiver.wait("/cost", lambda got: len(got) >= 1)
        assert fired and fired[0]["status"] == "firing" and fired[0]["rule"] == "spend"
        assert "above its baseline" in fired[0]["condition"]
        assert fired[0]["value"] > 0.1
        deadline = time.monotonic() + 10
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inbox.messages, "no alert email arrived"
        mail = inbox.messages[0]
        assert mail["Subject"] == "[Podium] [FIRING] spend"
        assert mail["To"] == "oncall@example.com"
        assert "spend spike" in mail.get_payload()
    finally:
        gw.stop()
        smtp.stop()
