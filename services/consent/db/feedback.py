"""The ``feedback`` table (c0008): why a customer withdrew or asked for less."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert(
    session: AsyncSession,
    feedback_id: uuid.UUID,
    subject_id: uuid.UUID,
    kind: str,
    purpose_key: str | None,
    channel: str | None,
    reason_code: str | None,
    text_ct: bytes | None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO feedback (id, subject_id, kind, purpose_key, channel, reason_code,"
            " text_ct) VALUES (:id, :subject, :kind, :purpose, :channel, :reason, :ct)"
        ),
        {
            "id": feedback_id,
            "subject": subject_id,
            "kind": kind,
            "purpose": purpose_key,
            "channel": channel,
            "reason": reason_code,
            "ct": text_ct,
        },
    )


async def receipt_ids(session: AsyncSession, subject_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """Ledger event id -> its receipt's id, for one subject's history page."""
    rows = await session.execute(
        text("SELECT event_id, id FROM receipts WHERE subject_id = :s"), {"s": subject_id}
    )
    return {row.event_id: row.id for row in rows}
