"""Synthetic subjects with consents, written with COPY (binary, through asyncpg).

Subjects get ids ``{prefix}{n:09d}``; every ``grant_every``-th has a live email grant for the
purpose, every 10th a preference document (weekly email) so the jsonb path is exercised.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

BATCH_ROWS = 100_000
PREFS_DOC = json.dumps(
    {
        "channels": {"email": {"enabled": True, "frequency": "weekly"}},
        "topics": {},
        "marketing_opt_out": False,
    }
)


async def ensure_purpose(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute(
        """
        INSERT INTO purposes (key, legal_basis, channels, current_version)
        VALUES ($1, 'consent', '{email,sms}', 1) ON CONFLICT (key) DO NOTHING""",
        key,
    )
    await conn.execute(
        """
        INSERT INTO purpose_versions (purpose_key, version, title, description)
        VALUES ($1, 1, '{"en": "Benchmark"}', '{}') ON CONFLICT DO NOTHING""",
        key,
    )


def external_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:09d}"


async def populate(
    conn: asyncpg.Connection, purpose: str, prefix: str, count: int, grant_every: int = 1
) -> None:
    """Add ``count`` subjects (and their grants) in COPY batches of 100,000."""
    await ensure_purpose(conn, purpose)
    for start in range(0, count, BATCH_ROWS):
        await _populate_batch(
            conn, purpose, prefix, range(start, min(count, start + BATCH_ROWS)), grant_every
        )


async def _populate_batch(
    conn: asyncpg.Connection, purpose: str, prefix: str, numbers: range, grant_every: int
) -> None:
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in numbers]
    async with conn.transaction():
        await conn.copy_records_to_table(
            "subjects",
            columns=["id", "external_id", "locale", "created_at", "updated_at"],
            records=[
                (sid, external_id(prefix, n), "fi", now, now)
                for sid, n in zip(ids, numbers, strict=True)
            ],
        )
        granted = [sid for sid, n in zip(ids, numbers, strict=True) if n % grant_every == 0]
        await conn.copy_records_to_table(
            "consent_events",
            columns=[
                "event_id",
                "subject_id",
                "purpose_key",
                "purpose_version",
                "channel",
                "action",
                "state",
                "source",
                "actor",
                "collection_method",
                "occurred_at",
            ],
            records=[
                (
                    uuid.uuid4(),
                    sid,
                    purpose,
                    1,
                    "email",
                    "grant",
                    "granted",
                    "import",
                    "bench",
                    "import",
                    now,
                )
                for sid in granted
            ],
        )
        await conn.execute(
            """
            INSERT INTO consent_state (subject_id, purpose_key, channel, state, purpose_version,
                                       granted_at, last_event_id)
            SELECT e.subject_id, e.purpose_key, e.channel, e.state, e.purpose_version,
                   e.occurred_at, e.id
            FROM consent_events e WHERE e.subject_id = ANY($1::uuid[]) AND e.purpose_key = $2""",
            granted,
            purpose,
        )
        await conn.copy_records_to_table(
            "preferences",
            columns=["subject_id", "doc", "version", "updated_at"],
            records=[
                (sid, PREFS_DOC, 1, now) for sid, n in zip(ids, numbers, strict=True) if n % 10 == 0
            ],
        )
