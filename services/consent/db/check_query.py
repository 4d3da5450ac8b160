"""The check's one SQL statement (single and batch) and its mapping to ``CheckFacts``.

Every lookup is on an indexed key: subjects by ``external_id`` (unique), purposes, the
projection, its last ledger event, preferences and the data key by primary key. The statement
runs on a raw asyncpg connection (prepared once per connection by asyncpg's statement cache):
the ORM costs several times the CPU per request on this path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.consent.domain.check import CheckFacts, Consent, Preferences, Purpose

# Parameters: $2 purpose key, $3 channel; the subject(s) come from the FROM clause.
_COLUMNS = """
    s.id AS subject_id, s.erased_at, s.restricted_at, s.objected_at,
    CASE WHEN p.min_age IS NOT NULL THEN s.birth_date_ct END AS birth_date_ct,
    k.kek_id, k.wrapped_dek,
    p.legal_basis, p.channels, p.validity_days, p.min_age, p.current_version,
    p.min_accepted_version,
    c.state, c.purpose_version, c.granted_at, e.event_id, e.given_by,
    pr.subject_id IS NOT NULL AS has_preferences,
    (pr.doc #>> ARRAY['channels', $3::text, 'enabled'])::boolean AS channel_enabled,
    pr.doc #>> ARRAY['channels', $3::text, 'frequency'] AS frequency,
    CASE WHEN pr.doc -> 'topics' ? $2::text
         THEN ARRAY(SELECT jsonb_array_elements_text(pr.doc -> 'topics' -> $2::text)) END AS topics,
    pr.doc #>> '{quiet_hours,start}' AS quiet_start,
    pr.doc #>> '{quiet_hours,end}' AS quiet_end,
    pr.doc #>> '{quiet_hours,timezone}' AS quiet_timezone,
    pr.doc ->> 'paused_until' AS paused_until,
    (pr.doc ->> 'marketing_opt_out')::boolean AS marketing_opt_out
"""
_JOINS = """
    LEFT JOIN subjects s ON s.external_id = r.external_id
    LEFT JOIN purposes p ON p.key = $2::text
    LEFT JOIN consent_state c
           ON c.subject_id = s.id AND c.purpose_key = $2::text AND c.channel = $3::text
    LEFT JOIN consent_events e ON e.id = c.last_event_id
    LEFT JOIN preferences pr ON pr.subject_id = s.id
    LEFT JOIN subject_keys k ON k.subject_id = s.id AND p.min_age IS NOT NULL
"""
# Composed from constants only; every value is a bind parameter.
SINGLE = f"SELECT {_COLUMNS} FROM (VALUES ($1::text)) AS r(external_id) {_JOINS}"  # noqa: S608
BATCH = (
    f"SELECT {_COLUMNS} FROM unnest($1::text[]) WITH ORDINALITY AS r(external_id, ord) "  # noqa: S608
    f"{_JOINS} ORDER BY r.ord"
)


async def fetch_one(
    conn: asyncpg.Connection, external_id: str, purpose: str, channel: str
) -> asyncpg.Record:
    """The facts row for one subject (always exactly one row: unknown subjects come back empty)."""
    return await conn.fetchrow(SINGLE, external_id, purpose, channel)


async def fetch_batch(
    conn: asyncpg.Connection, external_ids: Sequence[str], purpose: str, channel: str
) -> list[asyncpg.Record]:
    """One row per requested id, in request order (duplicates repeat)."""
    rows: list[asyncpg.Record] = await conn.fetch(BATCH, list(external_ids), purpose, channel)
    return rows


def purpose_of(row: Any) -> Purpose | None:
    if row["legal_basis"] is None:
        return None
    return Purpose(
        legal_basis=row["legal_basis"],
        channels=tuple(row["channels"]),
        validity_days=row["validity_days"],
        min_age=row["min_age"],
        current_version=row["current_version"],
        min_accepted_version=row["min_accepted_version"],
    )


def facts_of(row: Any, purpose: Purpose | None, age: int | None) -> CheckFacts:
    """The decision's input from one row; ``purpose`` is passed in so a batch builds it once."""
    if row["subject_id"] is None:
        return CheckFacts(subject_known=False, purpose=purpose)
    consent = None
    if row["state"] is not None:
        consent = Consent(
            row["state"],
            row["purpose_version"],
            row["granted_at"],
            row["event_id"],
            row["given_by"] or "subject",
        )
    return CheckFacts(
        subject_known=True,
        erased=row["erased_at"] is not None,
        restricted=row["restricted_at"] is not None,
        objected=row["objected_at"] is not None,
        purpose=purpose,
        consent=consent,
        preferences=preferences_of(row),
        age=age,
    )


def preferences_of(row: Any) -> Preferences | None:
    if not row["has_preferences"]:
        return None
    enabled, topics = row["channel_enabled"], row["topics"]
    return Preferences(
        channel_enabled=True if enabled is None else enabled,
        frequency=row["frequency"] or "immediately",
        topics=tuple(topics) if topics is not None else None,
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        quiet_timezone=row["quiet_timezone"],
        paused_until=_instant(row["paused_until"]),
        marketing_opt_out=bool(row["marketing_opt_out"]),
    )


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
