"""Alert channels: console (loguru), webhook (JSON POST) and email (SMTP)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

import httpx

from agent.config import AlertSettings
from agent.domain import AlertLevel
from agent.logging import logger, redact
from agent.ports import Alerts

_LEVEL_ORDER = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}


class ConsoleAlerts:
    """Alerts as log lines (visible in the console, the log file and the Ray dashboard)."""

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        log_level = {"info": "INFO", "warning": "WARNING", "critical": "CRITICAL"}[level.value]
        logger.log(log_level, "ALERT {}: {}", title, body)


class WebhookAlerts:
    """POST ``{"level", "title", "body", "text"}`` as JSON (Slack-compatible ``text`` field)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        payload = {
            "level": level.value,
            "title": redact(title),
            "body": redact(body),
            "text": redact(f"[{level.value.upper()}] {title}: {body}"),
        }
        response = httpx.post(self.url, json=payload, timeout=self.timeout_s)
        response.raise_for_status()


class EmailAlerts:
    def __init__(self, settings: AlertSettings, *, timeout_s: float = 10.0) -> None:
        if not (settings.smtp_host and settings.email_from and settings.email_to):
            raise ValueError("email alerts need smtp_host, email_from and email_to")
        self.settings = settings
        self.timeout_s = timeout_s

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        s = self.settings
        assert s.smtp_host is not None and s.email_from is not None
        message = EmailMessage()
        message["Subject"] = redact(f"[optagent {level.value}] {title}")
        message["From"] = s.email_from
        message["To"] = ", ".join(s.email_to)
        message.set_content(redact(body))
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout_s) as smtp:
            if s.smtp_user and s.smtp_password is not None:
                smtp.starttls()
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)


class FanOutAlerts:
    """Send to every channel at or above ``min_level``; a failing channel never raises into
    trading code (it is logged and counted)."""

    def __init__(
        self, channels: Sequence[Alerts], *, min_level: AlertLevel = AlertLevel.INFO
    ) -> None:
        self.channels = list(channels)
        self.min_level = min_level
        self.failures = 0

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        if _LEVEL_ORDER[level] < _LEVEL_ORDER[self.min_level]:
            return
        for channel in self.channels:
            try:
                channel.send(level=level, title=title, body=body)
            except Exception:
                self.failures += 1
                logger.exception("alert channel {} failed", type(channel).__name__)


def build_alerts(settings: AlertSettings) -> FanOutAlerts:
    channels: list[Alerts] = []
    if settings.console:
        channels.append(ConsoleAlerts())
    if settings.webhook_url:
        channels.append(WebhookAlerts(settings.webhook_url))
    if settings.smtp_host:
        channels.append(EmailAlerts(settings))
    return FanOutAlerts(channels, min_level=AlertLevel(settings.min_level))
