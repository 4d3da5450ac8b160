"""Fixtures for the mail queue: a request row to mail about, and a real SMTP server on the
loopback interface (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.service.request_keys import RequestKeys
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring


class Inbox:
    """What the SMTP server accepted: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = BytesParser(EmailMessage, policy=policy.default).parsebytes(content)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.received if address in rcpts]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller: Controller | None = None
        self.logins: list[tuple[bytes, bytes]] = []

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def start(self, **smtp_options: Any) -> None:
        """Start listening; ``smtp_options`` go to aiosmtpd's ``SMTP`` (TLS, auth)."""
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **smtp_options
        )
        await asyncio.to_thread(self.controller.start)

    async def start_with_login(self) -> None:
        """Accept any login over plain text (loopback only) and remember the credentials."""

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            assert isinstance(data, LoginPassword)
            self.logins.append((data.login, data.password))
            return AuthResult(success=True)

        await self.start(authenticator=authenticate, auth_require_tls=False)

    async def stop(self) -> None:
        if self.controller is not None:
            await asyncio.to_thread(self.controller.stop)
            self.controller = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """A server not yet started: a test starts it (and may stop it) itself."""
    server = SmtpServer()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def new_request(
    session_factory: async_sessionmaker[AsyncSession], keyring: Keyring
) -> Callable[[], Coroutine[Any, Any, uuid.UUID]]:
    """Insert a received request with its own data key (mail is sealed with it)."""

    async def insert() -> uuid.UUID:
        request_id = uuid.uuid4()
        now = datetime.now(UTC)
        async with session_factory() as session, session.begin():
            _, kek_id, wrapped = RequestKeys(session, keyring).new_key(request_id)
            await session.execute(
                text(
                    "INSERT INTO dsar_requests (id, type, status, origin, received_at, due_at,"
                    " kek_id, wrapped_key) VALUES (:id, 'access', 'received', 'api', :now, :due,"
                    " :kek_id, :wrapped)"
                ),
                {
                    "id": request_id,
                    "now": now,
                    "due": now + timedelta(days=30),
                    "kek_id": kek_id,
                    "wrapped": wrapped,
                },
            )
            await record_event(
                session,
                AuditEvent(
                    service="dsar", type="request.received", subject=str(request_id), data={}
                ),
            )
        return request_id

    return insert
