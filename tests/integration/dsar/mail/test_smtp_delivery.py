"""Queued mail reaches a real SMTP server; when the server is down it is retried later and
delivered once it is back; after sending nothing personal stays in the queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.dsar.mail.settings import MailSettings
from services.dsar.mail.transport import SmtpTransport
from services.dsar.service.mail import queue_mail, send_due_mail
from shared.keys import Keyring
from tests.integration.dsar.mail.conftest import SmtpServer
from tests.integration.dsar.mail.queue_helpers import audit_types, let_time_pass, mail_row

NewRequest = Callable[[], Coroutine[Any, Any, uuid.UUID]]
SETTINGS = MailSettings(sender="Esimerkki Oy <privacy@esimerkki.example>", max_attempts=3)


async def queue_code(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    request_id: uuid.UUID,
    to: str,
    locale: str = "fi",
) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await queue_mail(
            session,
            keyring,
            request_id,
            "identity_code",
            locale,
            to,
            {"code": "730194", "valid_minutes": 15},
            settings=SETTINGS,
        )


async def test_a_queued_code_reaches_the_requester_in_their_language(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    smtp_server: SmtpServer,
    new_request: NewRequest,
) -> None:
    await smtp_server.start()
    request_id = await new_request()
    to = f"maija.{uuid.uuid4().hex[:8]}@example.org"
    mail_id = await queue_code(session_factory, keyring, request_id, to, locale="sv")

    sent = await send_due_mail(
        session_factory, keyring, SmtpTransport(smtp_server.url), settings=SETTINGS
    )

    assert sent >= 1
    [message] = smtp_server.inbox.to(to)
    assert message["To"] == to
    assert message["From"] == SETTINGS.sender
    assert message["Subject"] == "Din bekräftelsekod: 730194"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] and message["Date"]
    assert "730194" in message.get_content()
    row = await mail_row(engine, mail_id)
    assert (row.status, row.message_ct, row.last_error) == ("sent", None, None)
    assert row.sent_at is not None
    events = await audit_types(engine, request_id)
    assert [kind for kind, _ in events] == ["request.received", "mail.queued", "mail.sent"]
    assert not any(to in data or "730194" in data for _, data in events)


async def test_a_mail_waits_out_an_smtp_outage_and_is_delivered_once_back(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    smtp_server: SmtpServer,
    new_request: NewRequest,
) -> None:
    request_id = await new_request()
    to = f"matti.{uuid.uuid4().hex[:8]}@example.org"
    mail_id = await queue_code(session_factory, keyring, request_id, to)
    transport = SmtpTransport(smtp_server.url)  # nothing listens there yet

    await send_due_mail(session_factory, keyring, transport, settings=SETTINGS)
    failed = await mail_row(engine, mail_id)
    assert (failed.status, failed.attempts) == ("queued", 1)
    assert failed.run_at > datetime.now(UTC)  # backed off
    assert failed.last_error and to not in failed.last_error
    assert failed.message_ct is not None

    await smtp_server.start()
    await send_due_mail(session_factory, keyring, transport, settings=SETTINGS)
    assert smtp_server.inbox.to(to) == []  # not due yet: the backoff holds
    await let_time_pass(engine, mail_id)
    await send_due_mail(session_factory, keyring, transport, settings=SETTINGS)

    [message] = smtp_server.inbox.to(to)
    assert message["Subject"] == "Vahvistuskoodisi: 730194"
    delivered = await mail_row(engine, mail_id)
    assert (delivered.status, delivered.attempts, delivered.message_ct) == ("sent", 2, None)
    kinds = [kind for kind, _ in await audit_types(engine, request_id)]
    assert kinds == ["request.received", "mail.queued", "mail.retry", "mail.sent"]


async def test_a_mail_is_given_up_after_the_last_attempt(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    keyring: Keyring,
    smtp_server: SmtpServer,
    new_request: NewRequest,
) -> None:
    request_id = await new_request()
    mail_id = await queue_code(session_factory, keyring, request_id, "x@example.org")
    transport = SmtpTransport(smtp_server.url)  # never started

    for _ in range(SETTINGS.max_attempts):
        await send_due_mail(session_factory, keyring, transport, settings=SETTINGS)
        await let_time_pass(engine, mail_id)

    row = await mail_row(engine, mail_id)
    assert (row.status, row.attempts, row.message_ct) == ("failed", 3, None)
    assert "x@example.org" not in row.last_error
    kinds = [kind for kind, _ in await audit_types(engine, request_id)]
    assert kinds[-1] == "mail.failed" and kinds.count("mail.retry") == 2
