"""Sending an alert: a JSON webhook, a Slack-compatible incoming webhook, or an email over SMTP.

Each channel gets the same :class:`Notice`; delivery failures are reported back (and kept on the
alert event), never raised — one broken channel must not silence the others.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import aiohttp
import msgspec

from podium.config.observability import ChannelSettings

__all__ = ["Notice", "deliver"]


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # fired | resolved | repeated
    rule: str
    group: str
    group_by: str | None
    severity: str
    metric: str
    value: float | None
    condition: str
    since: float
    at: float
    description: str | None = None

    @property
    def status(self) -> str:
        return "resolved" if self.kind == "resolved" else "firing"

    def title(self) -> str:
        where = f" ({self.group_by}={self.group})" if self.group_by and self.group else ""
        return f"[{self.status.upper()}] {self.rule}{where}"

    def text(self) -> str:
        line = f"{self.title()}: {self.condition}"
        if self.description:
            line += f" — {self.description}"
        return line

    def payload(self) -> dict[str, object]:
        return {
            "source": "podium",
            "status": self.status,
            "event": self.kind,
            "rule": self.rule,
            "group_by": self.group_by,
            "group": self.group,
            "severity": self.severity,
            "metric": self.metric,
            "value": self.value,
            "condition": self.condition,
            "description": self.description,
            "since": self.since,
            "at": self.at,
            "text": self.text(),
        }


async def _post(session: aiohttp.ClientSession, c: ChannelSettings, body: bytes) -> str:
    assert c.url is not None
    headers = {"Content-Type": "application/json", **c.headers}
    try:
        async with session.post(
            c.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=c.timeout_seconds)
        ) as resp:
            if resp.status >= 300:
                return f"HTTP {resp.status}"
            await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _send_mail(c: ChannelSettings, notice: Notice) -> None:
    message = EmailMessage()
    message["Subject"] = f"[Podium] {notice.title()}"
    message["From"] = c.sender or ""
    message["To"] = ", ".join(c.to)
    message.set_content(
        notice.text() + "\n\n" + msgspec.json.format(msgspec.json.encode(notice.payload())).decode()
    )
    with smtplib.SMTP(c.smtp_host or "", c.smtp_port, timeout=c.timeout_seconds) as smtp:
        if c.starttls:
            smtp.starttls()
        if c.username:
            smtp.login(c.username, c.password or "")
        smtp.send_message(message)


async def deliver(session: aiohttp.ClientSession, channel: ChannelSettings, notice: Notice) -> str:
    """Send ``notice`` on ``channel``: "ok", or what went wrong."""
    match channel.type:
        case "webhook":
            return await _post(session, channel, msgspec.json.encode(notice.payload()))
        case "slack":
            emoji = ":white_check_mark:" if notice.kind == "resolved" else ":rotating_light:"
            return await _post(session, channel, msgspec.json.encode({"text": f"{emoji} {notice.text()}"}))
        case "email":
            try:
                await asyncio.to_thread(_send_mail, channel, notice)
            except (OSError, smtplib.SMTPException) as exc:
                return f"{type(exc).__name__}: {exc}"
            return "ok"
