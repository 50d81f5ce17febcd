"""Alert channels against real loopback servers (HTTP and SMTP)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from agent.adapters.alerts import EmailAlerts, FanOutAlerts, WebhookAlerts, build_alerts
from agent.config import AlertSettings
from agent.domain import AlertLevel
from agent.logging import register_secrets


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_webhook_posts_json_with_secrets_redacted(
    webhook: tuple[str, list[dict[str, str]]],
) -> None:
    url, received = webhook
    register_secrets(["PK-webhook-secret-1"])
    WebhookAlerts(url).send(
        level=AlertLevel.CRITICAL, title="halted", body="auth PK-webhook-secret-1 refused"
    )
    assert len(received) == 1
    assert received[0]["level"] == "critical" and received[0]["title"] == "halted"
    assert "PK-webhook-secret-1" not in json.dumps(received[0])


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message."""

    messages: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data_mode, lines = False, []
        while line := self.rfile.readline():
            text = line.decode().rstrip("\r\n")
            if data_mode:
                if text == ".":
                    type(self).messages.append("\n".join(lines))
                    data_mode = False
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(text)
                continue
            verb = text.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == "DATA":
                data_mode = True
                self.wfile.write(b"354 go\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_is_delivered_over_smtp() -> None:
    server = socketserver.TCPServer(("127.0.0.1", 0), _SmtpHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = AlertSettings(
            smtp_host="127.0.0.1",
            smtp_port=server.server_address[1],
            email_from="agent@example.com",
            email_to=["trader@example.com"],
        )
        EmailAlerts(settings).send(level=AlertLevel.WARNING, title="breaker", body="daily loss 5%")
    finally:
        server.shutdown()
        server.server_close()
    assert any(
        "Subject: [optagent warning] breaker" in m and "daily loss 5%" in m
        for m in _SmtpHandler.messages
    )


class _Broken:
    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        raise ConnectionError("down")


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[AlertLevel, str]] = []

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        self.sent.append((level, title))


def test_fan_out_survives_a_broken_channel_and_filters_levels() -> None:
    recorder = _Recorder()
    alerts = FanOutAlerts([_Broken(), recorder], min_level=AlertLevel.WARNING)
    alerts.send(level=AlertLevel.INFO, title="ignored", body="")
    alerts.send(level=AlertLevel.CRITICAL, title="halt", body="")
    assert recorder.sent == [(AlertLevel.CRITICAL, "halt")]
    assert alerts.failures == 1


def test_build_alerts_picks_configured_channels() -> None:
    alerts = build_alerts(AlertSettings(webhook_url="http://127.0.0.1:9/x"))
    assert [type(c).__name__ for c in alerts.channels] == ["ConsoleAlerts", "WebhookAlerts"]
