"""A local SMTP server that keeps what it receives (the demo's and the tests' mailbox)."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailSink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


def start_sink(port: int | None = None) -> tuple[Controller, MailSink]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller, sink
