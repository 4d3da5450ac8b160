"""Audience and suppression export queries: ``COPY ... TO STDOUT``, or a server-side cursor.

The audience filter is the decision function's rules written as SQL (bulk export cannot afford a
Python decision per row); tests/api/check/test_audience_and_suppression.py compares it with batch
checks on the same subjects so the two cannot drift apart. Minimum age stays in Python (the
birth date is sealed).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.consent.db.records import Column, TypedRecord

CHUNK_ROWS = 5_000
# Where ``COPY ... TO STDOUT`` hands each socket read (asyncpg waits for it before the next).
CopyOutput = Callable[[bytearray], Awaitable[None]]

# $1 purpose, $2 channel, $3 topic (or NULL), $4 now.
# Validity is counted in hours: a "day" added to a timestamptz is a calendar day in the session's
# time zone (23 or 25 hours across a DST change), while the check counts whole 24-hour days.
_PREFERENCES_ALLOW = """
    AND NOT coalesce((pr.doc ->> 'marketing_opt_out')::boolean, false)
    AND coalesce((pr.doc #>> ARRAY['channels', $2::text, 'enabled'])::boolean, true)
    AND NOT coalesce((pr.doc ->> 'paused_until')::timestamptz > $4::timestamptz, false)
    AND ($3::text IS NULL OR NOT coalesce(pr.doc -> 'topics' ? $1::text, false)
         OR (pr.doc -> 'topics' -> $1::text) ? $3::text)
"""
_SUBJECT_ALLOWS = """
    AND s.erased_at IS NULL AND s.restricted_at IS NULL AND s.objected_at IS NULL
"""
# A GPC signal objects to sale/sharing unless a grant came after it (domain/check.py:gpc_objects).
_GPC_ALLOWS = """
    AND (NOT p.sale_or_sharing OR s.gpc_at IS NULL
         OR coalesce(c.state = 'granted' AND c.granted_at > s.gpc_at, false))
"""
# What the age rule reads, in ``AgedCandidate``'s order after the external id.
_AGE_COLUMNS = """
    , s.id AS subject_id,
    CASE WHEN p.min_age IS NOT NULL THEN s.birth_date_ct END AS birth_date_ct,
    k.kek_id, k.wrapped_dek, e.given_by, p.min_age
"""
# Only the age rule reads the last event (guardian) and the data key. ``last_event_id`` is NOT
# NULL with a foreign key, so leaving the event out of the other exports drops no row.
_AGE_JOINS = """
    LEFT JOIN consent_events e ON e.id = c.last_event_id
    LEFT JOIN subject_keys k ON k.subject_id = s.id AND p.min_age IS NOT NULL
"""
AUDIENCE_BY_CONSENT = """
    SELECT s.external_id {age_columns}
    FROM consent_state c
    JOIN purposes p ON p.key = c.purpose_key
    JOIN subjects s ON s.id = c.subject_id
    {age_joins}
    LEFT JOIN preferences pr ON pr.subject_id = c.subject_id
    WHERE c.purpose_key = $1::text AND c.channel = $2::text AND c.state = 'granted'
      AND $2::text = ANY (p.channels)
      AND (p.validity_days IS NULL
           OR c.granted_at + make_interval(hours => p.validity_days * 24) >= $4::timestamptz)
      AND c.purpose_version >= p.min_accepted_version
      """
AUDIENCE_WITHOUT_CONSENT = """
    SELECT s.external_id {age_columns}
    FROM subjects s
    JOIN purposes p ON p.key = $1::text
    LEFT JOIN consent_state c
           ON c.subject_id = s.id AND c.purpose_key = $1::text AND c.channel = $2::text
    {age_joins}
    LEFT JOIN preferences pr ON pr.subject_id = s.id
    WHERE $2::text = ANY (p.channels)
      AND (c.state IS NULL OR c.state NOT IN ('objected', 'withdrawn'))
      """
# $1 channel, $2 purpose (or NULL). Without a purpose: refused somewhere and live nowhere.
SUPPRESSION = """
    SELECT encode(s.{column}, 'hex')
    FROM subjects s
    LEFT JOIN preferences pr ON pr.subject_id = s.id
    WHERE s.{column} IS NOT NULL AND (
        s.erased_at IS NOT NULL OR s.restricted_at IS NOT NULL OR s.objected_at IS NOT NULL
        OR coalesce((pr.doc ->> 'marketing_opt_out')::boolean, false)
        OR NOT coalesce((pr.doc #>> ARRAY['channels', $1::text, 'enabled'])::boolean, true)
        OR (EXISTS (SELECT 1 FROM consent_state c
                    WHERE c.subject_id = s.id AND c.channel = $1::text
                      AND c.state IN ('withdrawn', 'objected')
                      AND ($2::text IS NULL OR c.purpose_key = $2::text))
            AND ($2::text IS NOT NULL OR NOT EXISTS (
                    SELECT 1 FROM consent_state c
                    WHERE c.subject_id = s.id AND c.channel = $1::text
                      AND c.state IN ('granted', 'pending')))))
"""
SUPPRESSION_COLUMNS = {
    "email": "email_suppression",
    "sms": "phone_suppression",
    "phone": "phone_suppression",
}


class AudienceTerms(TypedRecord):
    """What an audience export needs of its purpose."""

    __slots__ = ()
    legal_basis = Column[str]()
    min_age = Column[int | None]()


class AgedCandidate(TypedRecord):
    """An audience row of a purpose with a minimum age: the subject, and what the age rule reads."""

    __slots__ = ()
    external_id = Column[str]()
    subject_id = Column[uuid.UUID]()
    birth_date_ct = Column[bytes | None]()
    kek_id = Column[str | None]()
    wrapped_dek = Column[bytes | None]()
    given_by = Column[str | None]()  # of the consent's last event; None without a consent row
    min_age = Column[int]()


@dataclass(frozen=True, slots=True)
class AudienceQuery:
    """Whom an audience export lists: the statements' parameters $1 to $4."""

    purpose: str
    channel: str
    topic: str | None
    now: datetime

    def args(self) -> tuple[str, str, str | None, datetime]:
        return (self.purpose, self.channel, self.topic, self.now)


async def begin_snapshot(conn: asyncpg.Connection) -> None:
    """One consistent snapshot for the whole file; nothing an export does may write."""
    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")


PURPOSE_TERMS = "SELECT legal_basis, min_age FROM purposes WHERE key = $1"


async def purpose_terms(
    conn: asyncpg.Connection, purpose: str, read_timeout_s: float
) -> AudienceTerms | None:
    """The purpose's legal basis and minimum age (``None`` for an unknown purpose)."""
    terms: AudienceTerms | None = await conn.fetchrow(
        PURPOSE_TERMS, purpose, timeout=read_timeout_s, record_class=AudienceTerms
    )
    return terms


def audience_sql(legal_basis: str, with_age: bool) -> str:
    """The filter for the basis; the sealed birth date and its key only when age matters."""
    template = AUDIENCE_BY_CONSENT if legal_basis == "consent" else AUDIENCE_WITHOUT_CONSENT
    # Composed from constants only; every value is a bind parameter.
    return "".join(
        (
            template.format(
                age_columns=_AGE_COLUMNS if with_age else "",
                age_joins=_AGE_JOINS if with_age else "",
            ),
            _SUBJECT_ALLOWS,
            _GPC_ALLOWS,
            _PREFERENCES_ALLOW,
        )
    )


# Output lines rendered by PostgreSQL for ``COPY (...) TO STDOUT``: the same bytes the Python
# encoders write (service/exports.py), the first column being the external id.
NDJSON_LINE = """'{"subject":"'
    || replace(replace(s.external_id, '\\', '\\\\'), '"', '\\"') || '"}'"""
CSV_LINE = """CASE WHEN strpos(s.external_id, ',') > 0 OR strpos(s.external_id, '"') > 0
     THEN '"' || replace(s.external_id, '"', '""') || '"' ELSE s.external_id END"""
# CSV mode with a delimiter and quote that never occur in a line: every line goes out verbatim
# (text mode would double the backslashes of JSON escapes).
COPY_OPTIONS = {"format": "csv", "delimiter": "\x02", "quote": "\x01"}


async def copy_audience(
    conn: asyncpg.Connection,
    query: AudienceQuery,
    legal_basis: str,
    csv: bool,
    output: CopyOutput,
) -> None:
    """The audience of a purpose without a minimum age, one rendered line per subject, into
    ``output`` one socket read at a time (``COPY (...) TO STDOUT``).

    The whole export is this one statement, so the connection's ``statement_timeout`` (meant
    for one chunk) would cut long lists and slow readers short: it is lifted for this
    transaction, and the caller bounds the wait for each read instead.
    """
    line = CSV_LINE if csv else NDJSON_LINE
    sql = audience_sql(legal_basis, False).replace("SELECT s.external_id", f"SELECT {line}", 1)
    await conn.execute("SET LOCAL statement_timeout = 0")
    await conn.copy_from_query(sql, *query.args(), output=output, **COPY_OPTIONS)


async def aged_audience(
    conn: asyncpg.Connection, query: AudienceQuery, legal_basis: str, read_timeout_s: float
) -> AsyncIterator[list[AgedCandidate]]:
    """The audience of a purpose with a minimum age, before the age rule (the caller's)."""
    sql = audience_sql(legal_basis, with_age=True)
    async for rows in _chunks(conn, sql, query.args(), read_timeout_s, AgedCandidate):
        yield rows


async def suppression_hashes(
    conn: asyncpg.Connection, channel: str, purpose: str | None, read_timeout_s: float
) -> AsyncIterator[list[str]]:
    """The hex keyed hashes of the addresses not to contact on ``channel`` (see SUPPRESSION)."""
    sql = SUPPRESSION.format(column=SUPPRESSION_COLUMNS[channel])
    async for rows in _chunks(conn, sql, (channel, purpose), read_timeout_s, None):
        yield [row[0] for row in rows]


async def _chunks(
    conn: asyncpg.Connection,
    sql: str,
    args: tuple[Any, ...],
    read_timeout_s: float,
    record_class: type[TypedRecord] | None,
) -> AsyncIterator[list[Any]]:
    """Rows in chunks through a server-side cursor: memory stays flat however many there are.

    ``read_timeout_s`` bounds each fetch, not the export: a list of any length streams as long
    as every chunk comes in time. The caller holds ``conn`` in a transaction (cursors need one).
    """
    cursor = await conn.cursor(sql, *args, timeout=read_timeout_s, record_class=record_class)
    while rows := await cursor.fetch(CHUNK_ROWS, timeout=read_timeout_s):
        yield rows
