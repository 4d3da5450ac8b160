"""The check's one SQL statement (single and batch) and the reading of its rows.

Everything a check reads about a subject sits in one ``check_facts`` row (kept in step with
the ledger projection, the subject and the preferences by triggers, migration c0003), found
through a hash index on the external id: one bucket page and one heap page per subject. The
purpose's terms come on the first row only (they are the same for every row); the sealed birth
date and its data key are read only for a purpose with a minimum age. The statement runs on a
raw asyncpg connection, prepared once per connection by asyncpg's statement cache: the ORM
costs several times the CPU per request on this path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from services.consent.db.check_facts_layout import entry_key
from services.consent.db.records import Column, TypedRecord
from services.consent.domain.check import CheckFacts, Consent, Preferences, Purpose

# The subject's id, sealed birth date, and the data key's id and wrapped key.
SealedBirthDate = tuple[uuid.UUID, bytes | None, str | None, bytes | None]


class CheckRow(TypedRecord):
    """One row of the check statement, columns in order (the batch loop unpacks it by position)."""

    __slots__ = ()
    known = Column[bool]()
    erased = Column[bool]()
    restricted = Column[bool]()
    objected = Column[bool]()
    gpc_at = Column[datetime | None]()
    consent = Column[str | None]()  # the projection entry (check_facts_layout), as JSON
    preferences = Column[str | None]()  # the preference document, as JSON
    purpose = Column[str | None]()  # the purpose's terms as JSON, on the first row only
    sealed_birth_date = Column[SealedBirthDate | None]()  # only for a purpose with a minimum age


def _columns(purpose_key: str, channel: str, terms_on: str) -> str:
    """The select list, from the SQL of the purpose key, the channel and the condition under
    which a row carries the purpose's terms."""
    return f"""
    f.subject_id IS NOT NULL AS known, f.erased, f.restricted, f.objected, f.gpc_at,
    (f.consents -> ({entry_key(purpose_key, channel)}))::text AS consent,
    f.preferences::text AS preferences,
    CASE WHEN {terms_on} AND p.key IS NOT NULL THEN json_build_object(
        'legal_basis', p.legal_basis, 'channels', p.channels, 'validity_days', p.validity_days,
        'min_age', p.min_age, 'current_version', p.current_version,
        'min_accepted_version', p.min_accepted_version,
        'sale_or_sharing', p.sale_or_sharing)::text END AS purpose,
    CASE WHEN p.min_age IS NOT NULL THEN (
        SELECT row(s.id, s.birth_date_ct, k.kek_id, k.wrapped_dek)
        FROM subjects s LEFT JOIN subject_keys k ON k.subject_id = s.id
        WHERE s.id = f.subject_id) END AS sealed_birth_date
    """  # noqa: S608 (composed from constants; the values are bind parameters)


_FACTS = "LEFT JOIN check_facts f ON f.external_id = r.external_id"
# One purpose and channel for every row ($2, $3); the subject(s) and their order come from the
# FROM clause. The terms come on the first row only (they are the same for every row).
_ONE_PURPOSE = _columns("$2::text", "$3::text", "r.ord = 1")
_JOIN_ONE_PURPOSE = f"{_FACTS} LEFT JOIN purposes p ON p.key = $2::text"
# Composed from constants only; every value is a bind parameter.
SINGLE = (
    f"SELECT {_ONE_PURPOSE} FROM (VALUES ($1::text, 1)) AS r(external_id, ord) "  # noqa: S608
    f"{_JOIN_ONE_PURPOSE}"
)
# The ids travel as one newline-separated text: asyncpg encodes a text[] element by element in
# Python (a fifth of the statement's time for 10,000 ids); external ids hold no control
# characters, so a newline never occurs inside one.
BATCH = (
    f"SELECT {_ONE_PURPOSE} FROM unnest(string_to_array($1::text, chr(10))) WITH ORDINALITY "  # noqa: S608
    f"AS r(external_id, ord) {_JOIN_ONE_PURPOSE} ORDER BY r.ord"
)
# Single checks gathered into one statement (service/gathered_checks.py): each row its own
# subject, purpose and channel, and its own purpose's terms. Few rows (tens), so text[] is fine.
GATHERED = (
    f"SELECT {_columns('r.purpose_key', 'r.channel', 'true')} "  # noqa: S608
    "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "
    f"AS r(external_id, purpose_key, channel, ord) {_FACTS} "
    "LEFT JOIN purposes p ON p.key = r.purpose_key ORDER BY r.ord"
)
# The columns in order, for readers that unpack rows positionally (tests hold the SQL to it).
ROW_FIELDS = CheckRow.column_names

# A projection entry, laid out as check_facts_layout says, read by position into a ``Consent``.
read_consent = msgspec.json.Decoder(Consent).decode
_read_purpose = msgspec.json.Decoder(Purpose).decode
_read_document = msgspec.json.Decoder(dict[str, Any]).decode


async def fetch_one(
    conn: asyncpg.Connection, external_id: str, purpose: str, channel: str
) -> CheckRow:
    """The facts row for one subject (always exactly one row: unknown subjects come back empty)."""
    row: CheckRow = await conn.fetchrow(
        SINGLE, external_id, purpose, channel, record_class=CheckRow
    )
    return row


async def fetch_batch(
    conn: asyncpg.Connection, external_ids: Sequence[str], purpose: str, channel: str
) -> list[CheckRow]:
    """One row per requested id, in request order (duplicates repeat)."""
    if not external_ids:
        return []
    joined = "\n".join(external_ids)
    if joined.count("\n") != len(external_ids) - 1:
        raise ValueError("an external id holds a newline")
    rows: list[CheckRow] = await conn.fetch(BATCH, joined, purpose, channel, record_class=CheckRow)
    return rows


async def fetch_gathered(
    conn: asyncpg.Connection, wanted: Sequence[tuple[str, str, str]]
) -> list[CheckRow]:
    """One row per (external id, purpose key, channel), in order, each with its purpose's terms."""
    ids, purposes, channels = zip(*wanted, strict=True)
    rows: list[CheckRow] = await conn.fetch(
        GATHERED, ids, purposes, channels, record_class=CheckRow
    )
    return rows


def purpose_of(first_row: CheckRow) -> Purpose | None:
    """The purpose's terms, carried by the first row; ``None`` for an unknown purpose."""
    text = first_row.purpose
    return None if text is None else _read_purpose(text)


def facts_of(
    row: CheckRow, purpose: Purpose | None, preferences: Preferences | None, age: int | None
) -> CheckFacts:
    """The decision's input from one row; the purpose and preferences are read by the caller."""
    if not row.known:
        return CheckFacts(subject_known=False, purpose=purpose)
    return CheckFacts(
        subject_known=True,
        erased=row.erased,
        restricted=row.restricted,
        objected=row.objected,
        purpose=purpose,
        consent=consent_of(row.consent),
        preferences=preferences,
        age=age,
        gpc_at=row.gpc_at,
    )


def consent_of(text: str | None) -> Consent | None:
    """The projection entry ``[state, version, granted_at, event_id, given_by]``, if any."""
    return None if text is None else read_consent(text)


def preferences_of(text: str | None, purpose_key: str, channel: str) -> Preferences | None:
    """The parts of a stored preference document that bear on one purpose and channel."""
    if text is None:
        return None
    doc = _read_document(text)
    settings = (doc.get("channels") or {}).get(channel) or {}
    topics = doc.get("topics") or {}
    quiet = doc.get("quiet_hours") or {}
    paused = doc.get("paused_until")
    enabled = settings.get("enabled")
    return Preferences(
        channel_enabled=True if enabled is None else bool(enabled),
        frequency=settings.get("frequency") or "immediately",
        topics=tuple(topics[purpose_key]) if purpose_key in topics else None,
        quiet_start=quiet.get("start"),
        quiet_end=quiet.get("end"),
        quiet_timezone=quiet.get("timezone"),
        paused_until=datetime.fromisoformat(paused) if paused else None,
        marketing_opt_out=bool(doc.get("marketing_opt_out")),
    )
