"""Reading the mail queue and the audit trail the way an operator would."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def mail_row(engine: AsyncEngine, mail_id: uuid.UUID) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                text("SELECT * FROM dsar_outgoing_mail WHERE id = :id"), {"id": mail_id}
            )
        ).one()


async def audit_types(engine: AsyncEngine, request_id: uuid.UUID) -> list[tuple[str, str]]:
    """(event type, its data as text) for the request, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT type, data::text FROM audit_events WHERE subject = :subject"
                " ORDER BY time, event_id"
            ),
            {"subject": str(request_id)},
        )
        return [(row[0].removeprefix("fi.lupa.dsar."), row[1]) for row in rows]


async def let_time_pass(engine: AsyncEngine, mail_id: uuid.UUID) -> None:
    """The backoff has run out: the mail is due again (instead of sleeping through it)."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE dsar_outgoing_mail SET run_at = now() WHERE id = :id"), {"id": mail_id}
        )
