"""Queries on ``dsar_outgoing_mail``: the durable queue of mail to requesters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class DueMail:
    id: uuid.UUID
    request_id: uuid.UUID
    template: str
    message_ct: bytes | None
    attempts: int


async def insert_mail(
    session: AsyncSession, mail_id: uuid.UUID, request_id: uuid.UUID, template: str, sealed: bytes
) -> None:
    await session.execute(
        text(
            "INSERT INTO dsar_outgoing_mail (id, request_id, template, message_ct)"
            " VALUES (:id, :request_id, :template, :sealed)"
        ),
        {"id": mail_id, "request_id": request_id, "template": template, "sealed": sealed},
    )


async def notify_worker(session: AsyncSession) -> None:
    """Wake a waiting mail worker; PostgreSQL delivers it when the transaction commits."""
    await session.execute(text("SELECT pg_notify('dsar_mail', '')"))


async def take_due(session: AsyncSession) -> DueMail | None:
    """The oldest due queued mail, locked; another worker's locked row is skipped."""
    row = (
        await session.execute(
            text(
                "SELECT id, request_id, template, message_ct, attempts FROM dsar_outgoing_mail"
                " WHERE status = 'queued' AND run_at <= now()"
                " ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        )
    ).one_or_none()
    return None if row is None else DueMail(*row)


async def mark_sent(session: AsyncSession, mail_id: uuid.UUID) -> None:
    """Sent: the sealed message is dropped, so no personal data stays behind."""
    await session.execute(
        text(
            "UPDATE dsar_outgoing_mail SET status = 'sent', sent_at = now(), message_ct = NULL,"
            " attempts = attempts + 1, last_error = NULL WHERE id = :id"
        ),
        {"id": mail_id},
    )


async def mark_retry(
    session: AsyncSession, mail_id: uuid.UUID, delay_seconds: float, error: str
) -> None:
    await session.execute(
        text(
            "UPDATE dsar_outgoing_mail SET attempts = attempts + 1, last_error = :error,"
            " run_at = now() + make_interval(secs => :delay) WHERE id = :id"
        ),
        {"id": mail_id, "delay": delay_seconds, "error": error},
    )


async def mark_failed(session: AsyncSession, mail_id: uuid.UUID, error: str) -> None:
    """Given up: the message is dropped too; the request's officer sees the failure."""
    await session.execute(
        text(
            "UPDATE dsar_outgoing_mail SET status = 'failed', attempts = attempts + 1,"
            " last_error = :error, message_ct = NULL WHERE id = :id"
        ),
        {"id": mail_id, "error": error},
    )
