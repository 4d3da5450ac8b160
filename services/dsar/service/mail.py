"""Mail to requesters through a durable queue: ``queue_mail`` stores the composed message,
sealed with the request's key, in the caller's transaction; ``send_due_mail`` (the worker)
sends what is due, retrying with backoff, and keeps nothing personal once a mail is sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.db import mail as queue
from services.dsar.mail.compose import compose
from services.dsar.mail.settings import MailSettings
from services.dsar.mail.transport import DeliveryFailed, Transport
from services.dsar.service.request_keys import RequestKeys, open_value, seal_value
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhooks import backoff_seconds
from shared.errors import Conflict
from shared.keys import Keyring

log = structlog.get_logger(__name__)


def _field(mail_id: uuid.UUID) -> str:
    return f"mail:{mail_id}"


async def queue_mail(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    template: str,
    locale: str,
    to: str,
    context: Mapping[str, Any],
    *,
    settings: MailSettings | None = None,
) -> uuid.UUID:
    """Queue a mail to ``to`` about request ``request_id``; it is sent after commit.

    Composes now, so a bad template or a missing variable fails the caller's transaction."""
    settings = settings or MailSettings.from_env()
    message = compose(template, locale, to, context, settings.sender, overrides=settings.templates)
    mail_id = uuid.uuid4()
    dek = await RequestKeys(session, keyring).data_key(request_id)
    sealed = seal_value(dek, request_id, _field(mail_id), message.as_bytes())
    await queue.insert_mail(session, mail_id, request_id, template, sealed)
    await record_event(session, _event("mail.queued", mail_id, request_id, template))
    await queue.notify_worker(session)
    return mail_id


async def send_due_mail(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    transport: Transport,
    *,
    limit: int = 20,
    settings: MailSettings | None = None,
) -> int:
    """Send up to ``limit`` due mails, one per transaction; returns how many were sent."""
    settings = settings or MailSettings.from_env()
    sent = 0
    for _ in range(limit):
        async with session_factory() as session, session.begin():
            mail = await queue.take_due(session)
            if mail is None:
                break
            sent += await _deliver(session, keyring, transport, mail, settings)
    return sent


async def _deliver(
    session: AsyncSession,
    keyring: Keyring,
    transport: Transport,
    mail: queue.DueMail,
    settings: MailSettings,
) -> int:
    try:
        message = await _open(session, keyring, mail)
    except Conflict:
        await _give_up(session, mail, "the request's key is shredded")
        return 0
    try:
        await transport.send(message)
    except DeliveryFailed as failure:
        await _failed_attempt(session, mail, str(failure), settings)
        return 0
    await queue.mark_sent(session, mail.id)
    await record_event(session, _event("mail.sent", mail.id, mail.request_id, mail.template))
    return 1


async def _open(session: AsyncSession, keyring: Keyring, mail: queue.DueMail) -> EmailMessage:
    if mail.message_ct is None:
        raise Conflict("The queued mail has no message.")
    dek = await RequestKeys(session, keyring).data_key(mail.request_id)
    data = open_value(dek, mail.request_id, _field(mail.id), mail.message_ct)
    return BytesParser(EmailMessage, policy=policy.default).parsebytes(data)


async def _failed_attempt(
    session: AsyncSession, mail: queue.DueMail, error: str, settings: MailSettings
) -> None:
    attempts = mail.attempts + 1
    if attempts >= settings.max_attempts:
        await _give_up(session, mail, error)
        return
    delay = backoff_seconds(attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
    await queue.mark_retry(session, mail.id, delay, error)
    # A state change like any other: the attempt is on the record.
    await record_event(
        session, _event("mail.retry", mail.id, mail.request_id, mail.template, attempts=attempts)
    )
    log.warning("mail_retry", mail_id=str(mail.id), attempts=attempts, error=error)


async def _give_up(session: AsyncSession, mail: queue.DueMail, error: str) -> None:
    await queue.mark_failed(session, mail.id, error)
    await record_event(
        session,
        _event("mail.failed", mail.id, mail.request_id, mail.template, error=error),
    )
    log.error("mail_failed", mail_id=str(mail.id), request_id=str(mail.request_id), error=error)


def _event(
    kind: str, mail_id: uuid.UUID, request_id: uuid.UUID, template: str, **extra: Any
) -> AuditEvent:
    """The mail's audit event: ids and the template only, never the address or the body."""
    data = {"request": str(request_id), "mail": str(mail_id), "template": template, **extra}
    return AuditEvent(service="dsar", type=kind, subject=str(request_id), data=data)
