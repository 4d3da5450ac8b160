"""The CX dashboard's queries over the consent ledger, the feedback table, preferences and
current consent state. Counts, except ``text_samples``, which returns sealed free text with the
subject's wrapped key for the service layer to open (erased subjects are left out: their key
is gone)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.subjects import WrappedKey


@dataclass(frozen=True)
class WeekCount:
    week: datetime  # Monday 00:00 UTC of the ISO week
    purpose: str
    channel: str
    grants: int
    withdrawals: int


@dataclass(frozen=True)
class SealedText:
    subject_id: uuid.UUID
    reason: str | None
    kind: str
    created_at: datetime
    sealed: bytes
    key: WrappedKey


async def weekly_changes(session: AsyncSession, since: datetime) -> list[WeekCount]:
    """Per ISO week, purpose and channel: consents given (a grant that took effect at once, or
    a double opt-in confirmed) and withdrawals, by when they happened."""
    rows = await session.execute(
        text(
            "SELECT date_trunc('week', occurred_at AT TIME ZONE 'UTC') AS week,"
            " purpose_key, channel,"
            " count(*) FILTER (WHERE (action = 'grant' AND state = 'granted')"
            "   OR action = 'confirm') AS grants,"
            " count(*) FILTER (WHERE action = 'withdraw') AS withdrawals"
            " FROM consent_events WHERE occurred_at >= :since"
            " AND action IN ('grant', 'confirm', 'withdraw')"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ),
        {"since": since},
    )
    return [
        WeekCount(r.week, r.purpose_key, r.channel, int(r.grants), int(r.withdrawals)) for r in rows
    ]


async def reason_counts(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Feedback per reason code ('' for feedback with text only)."""
    rows = await session.execute(
        text(
            "SELECT coalesce(reason_code, '') AS reason, count(*) AS n FROM feedback"
            " WHERE created_at >= :since GROUP BY 1"
        ),
        {"since": since},
    )
    return {r.reason: int(r.n) for r in rows}


async def kind_counts(session: AsyncSession, since: datetime) -> dict[str, int]:
    rows = await session.execute(
        text("SELECT kind, count(*) AS n FROM feedback WHERE created_at >= :since GROUP BY kind"),
        {"since": since},
    )
    return {r.kind: int(r.n) for r in rows}


async def preference_changes(session: AsyncSession, since: datetime) -> int:
    """Subjects whose preferences (frequency, topics, pauses) last changed in the period."""
    return int(
        (
            await session.execute(
                text("SELECT count(*) FROM preferences WHERE updated_at >= :since"),
                {"since": since},
            )
        ).scalar_one()
    )


async def events_from_source(session: AsyncSession, since: datetime, source: str) -> int:
    return int(
        (
            await session.execute(
                text(
                    "SELECT count(*) FROM consent_events"
                    " WHERE occurred_at >= :since AND source = :source AND action = 'withdraw'"
                ),
                {"since": since, "source": source},
            )
        ).scalar_one()
    )


async def opt_in_counts(session: AsyncSession, since: datetime) -> tuple[int, int]:
    """(double opt-in grants asked for, confirmations) in the period."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE action = 'grant' AND state = 'pending') AS asked,"
                " count(*) FILTER (WHERE action = 'confirm') AS confirmed"
                " FROM consent_events WHERE occurred_at >= :since"
            ),
            {"since": since},
        )
    ).one()
    return int(row.asked), int(row.confirmed)


async def expiring(session: AsyncSession, now: datetime, until: datetime) -> dict[str, int]:
    """Live consents per purpose whose validity ends between ``now`` and ``until`` (validity
    counted in 24-hour days, as ``domain/validity.py`` and the audience export count it)."""
    rows = await session.execute(
        text(
            "SELECT c.purpose_key, count(*) AS n FROM consent_state c"
            " JOIN purposes p ON p.key = c.purpose_key"
            " JOIN subjects s ON s.id = c.subject_id AND s.erased_at IS NULL"
            " WHERE c.state = 'granted' AND p.validity_days IS NOT NULL"
            " AND c.granted_at + make_interval(hours => p.validity_days * 24)"
            "   BETWEEN :now AND :until"
            " GROUP BY 1 ORDER BY 1"
        ),
        {"now": now, "until": until},
    )
    return {r.purpose_key: int(r.n) for r in rows}


async def text_samples(session: AsyncSession, since: datetime, limit: int) -> list[SealedText]:
    """The newest free texts of subjects not erased, with their wrapped keys."""
    rows = await session.execute(
        text(
            "SELECT f.subject_id, f.reason_code, f.kind, f.created_at, f.text_ct,"
            " k.kek_id, k.wrapped_dek FROM feedback f"
            " JOIN subjects s ON s.id = f.subject_id AND s.erased_at IS NULL"
            " JOIN subject_keys k ON k.subject_id = f.subject_id"
            " WHERE f.text_ct IS NOT NULL AND f.created_at >= :since"
            " ORDER BY f.created_at DESC LIMIT :limit"
        ),
        {"since": since, "limit": limit},
    )
    return [
        SealedText(
            r.subject_id,
            r.reason_code,
            r.kind,
            r.created_at,
            bytes(r.text_ct),
            WrappedKey(r.kek_id, bytes(r.wrapped_dek)),
        )
        for r in rows
    ]
