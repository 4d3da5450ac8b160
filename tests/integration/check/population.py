"""Large audiences built in SQL for export tests: guardian-given email grants and their projection.

Guardian consent passes a minimum age without a birth date, so the same population serves the
COPY path and the minimum-age cursor path.
"""

from __future__ import annotations

import asyncpg

# $1 purpose, $2 external id prefix, $3 count.
_GUARDIAN_GRANTS = """
WITH s AS (
    INSERT INTO subjects (id, external_id, locale)
    SELECT gen_random_uuid(), $2 || lpad(g::text, 9, '0'), 'fi' FROM generate_series(1, $3) g
    RETURNING id)
INSERT INTO consent_events (event_id, subject_id, purpose_key, purpose_version, channel, action,
                            state, source, actor, given_by, collection_method, occurred_at)
SELECT gen_random_uuid(), s.id, $1, 1, 'email', 'grant', 'granted', 'import', 'test',
       'guardian', 'import', now()
FROM s
"""
# The projection rows of the grants not projected yet ($1 purpose).
_PROJECTION = """
INSERT INTO consent_state (subject_id, purpose_key, channel, state, purpose_version,
                           granted_at, last_event_id)
SELECT e.subject_id, e.purpose_key, e.channel, e.state, e.purpose_version, e.occurred_at, e.id
FROM consent_events e
WHERE e.purpose_key = $1 AND NOT EXISTS (
    SELECT 1 FROM consent_state c WHERE c.subject_id = e.subject_id AND c.purpose_key = $1)
"""


async def add_guardian_audience(
    conn: asyncpg.Connection, purpose: str, prefix: str, count: int, min_age: int | None = None
) -> None:
    """A consent purpose on email (with ``min_age``, if given) and ``count`` guardian grants."""
    await conn.execute(
        "INSERT INTO purposes (key, legal_basis, channels, current_version, min_age)"
        " VALUES ($1, 'consent', '{email}', 1, $2)",
        purpose,
        min_age,
    )
    await conn.execute(
        "INSERT INTO purpose_versions (purpose_key, version, title, description)"
        """ VALUES ($1, 1, '{"en": "Export test"}', '{}')""",
        purpose,
    )
    await add_guardian_grants(conn, purpose, prefix, count)


async def add_guardian_grants(
    conn: asyncpg.Connection, purpose: str, prefix: str, count: int
) -> None:
    """``count`` subjects ``{prefix}000000001``… with a live guardian-given email grant."""
    await conn.execute(_GUARDIAN_GRANTS, purpose, prefix, count)
    await conn.execute(_PROJECTION, purpose)
