"""Optimistic consent writes, many at once: the facts of several writes read in one statement
without any lock, then their appends in one statement that writes each only if its subject
and state are still as read.

Each statement is its own transaction (``shared.db.statements.SingleStatements``): two round
trips for a whole batch of writes, instead of four per write (``BEGIN``, the locked read, the
append, ``COMMIT``). A batch holds at most one write per subject (``append_if_current`` refuses
more), so no two of its rows meet on one projection row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from services.consent.db.ledger import (
    EVENT_COLUMNS,
    STATE_COLUMNS,
    STATE_ON_CONFLICT,
    ConsentStateRow,
    PendingAppend,
    ReadVersion,
    StoredEvent,
    WriteFacts,
    facts_of,
)
from services.consent.db.subjects import SubjectRow
from services.consent.domain.purposes import Purpose
from shared.audit.outbox import AUDIT_COLUMNS, note_recorded
from shared.db import statements
from shared.db.statements import Statement, Transaction

# What a write of (external id, purpose key, channel) needs, as ledger.lock_for_write reads it
# under the lock, with the subject row's version (xmin: any UPDATE of the row gives it a new
# one); one row per write asked for that has a subject, numbered as asked (n, from 1).
# A purpose's title and description are its current version's.
_TABLE_OF = {"title": "v", "description": "v"}
_WRITE_FACTS = Statement(
    "SELECT q.n, "  # noqa: S608 (struct field names, no input)
    + ", ".join(f"s.{name}" for name in SubjectRow.__struct_fields__)
    + ", "
    + ", ".join(f"{_TABLE_OF.get(name, 'p')}.{name}" for name in Purpose.__struct_fields__)
    + ", k.kek_id, k.wrapped_dek, "
    + ", ".join(f"cs.{name}" for name in ConsentStateRow.__struct_fields__)
    + ", s.xmin"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY"
    " AS q(external_id, purpose_key, channel, n)"
    " JOIN subjects s ON s.external_id = q.external_id"
    " LEFT JOIN purposes p ON p.key = q.purpose_key"
    " LEFT JOIN purpose_versions v ON v.purpose_key = p.key AND v.version = p.current_version"
    " LEFT JOIN subject_keys k ON k.subject_id = s.id"
    " LEFT JOIN consent_state cs ON cs.subject_id = s.id"
    " AND cs.purpose_key = q.purpose_key AND cs.channel = q.channel"
)

# The appends' values, one array per column, in PendingAppend.values()'s order, then the
# version each write was decided on.
_VALUE_TYPES = (
    ("event_id", "uuid"),
    ("subject_id", "uuid"),
    ("purpose_key", "text"),
    ("purpose_version", "int"),
    ("channel", "text"),
    ("action", "text"),
    ("state", "text"),
    ("source", "text"),
    ("actor", "text"),
    ("given_by", "text"),
    ("collection_method", "text"),
    ("page", "text"),
    ("ip_hash", "bytea"),
    ("ua_hash", "bytea"),
    ("reason_ct", "bytea"),
    ("occurred_at", "timestamptz"),
    ("granted_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("receipt_id", "uuid"),
    ("jws", "text"),
    ("receipt_created_at", "timestamptz"),
    ("audit_event_id", "uuid"),
    ("audit_service", "text"),
    ("audit_type", "text"),
    ("audit_subject", "text"),
    ("audit_time", "timestamptz"),
    ("audit_data", "text"),
    ("subject_xmin", "xid"),
    ("expected", "bigint"),
)
_UNNEST = ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(_VALUE_TYPES, 1))
_NAMES = ", ".join(name for name, _ in _VALUE_TYPES)
# The audit row's values are named audit_<column> above; data is sent as text (as audit_row
# gives it), so it is cast here.
_AUDIT_VALUES = ", ".join(
    f"audit_{column}::jsonb" if column == "data" else f"audit_{column}" for column in AUDIT_COLUMNS
)
# The rows of every write whose subject row and state are still as read. The statement's
# snapshot is taken before the subjects' locks are waited for, so nothing is compared in it:
# each lock re-reads the newest subject row (EvalPlanQual) and ON CONFLICT's WHERE judges the
# newest state row, and a write where either has moved comes out of lk or st with no row, and
# nothing of it is written. Locks are taken in subject id order, as two batches meeting on
# the same subjects must. The ledger ids are drawn first, so the projection's upsert decides
# which ledger rows are written at all. Answers (n, ledger id, recorded_at) per write written.
_APPEND_IF_CURRENT = Statement(
    f"WITH q AS (SELECT * FROM unnest({_UNNEST}) WITH ORDINALITY AS q({_NAMES}, n)"  # noqa: S608 (column names, no input)
    "), lk AS ("
    " SELECT s.id FROM subjects s JOIN q ON s.id = q.subject_id AND s.xmin = q.subject_xmin"
    " ORDER BY s.id FOR UPDATE OF s"
    "), ids AS ("
    " SELECT q.*, nextval(pg_get_serial_sequence('consent_events', 'id')) AS ledger_id"
    " FROM q JOIN lk ON lk.id = q.subject_id"
    "), st AS ("
    f" INSERT INTO consent_state ({STATE_COLUMNS})"
    " SELECT subject_id, purpose_key, channel, state, purpose_version, granted_at, ledger_id,"
    " updated_at FROM ids"
    + STATE_ON_CONFLICT
    + " WHERE consent_state.last_event_id IS NOT DISTINCT FROM (SELECT ids.expected FROM ids"  # noqa: S608
    " WHERE ids.subject_id = EXCLUDED.subject_id AND ids.purpose_key = EXCLUDED.purpose_key"
    " AND ids.channel = EXCLUDED.channel)"
    " RETURNING last_event_id"
    "), ev AS ("
    f" INSERT INTO consent_events (id, {EVENT_COLUMNS}) OVERRIDING SYSTEM VALUE"
    f" SELECT ids.ledger_id, {EVENT_COLUMNS} FROM ids JOIN st ON st.last_event_id = ids.ledger_id"
    " RETURNING id, recorded_at"
    "), rc AS ("
    " INSERT INTO receipts (id, subject_id, event_id, jws, created_at)"
    " SELECT receipt_id, subject_id, event_id, jws, receipt_created_at"
    " FROM ids JOIN ev ON ev.id = ids.ledger_id"
    "), au AS ("
    f" INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)})"
    f" SELECT {_AUDIT_VALUES} FROM ids JOIN ev ON ev.id = ids.ledger_id ORDER BY ids.n"
    ") SELECT ids.n, ev.id, ev.recorded_at FROM ids JOIN ev ON ev.id = ids.ledger_id"
)


async def read_many_for_write(
    session: Transaction, wanted: Sequence[tuple[str, str, str]]
) -> list[WriteFacts | None]:
    """For each (external id, purpose key, channel), what ``ledger.lock_for_write`` reads,
    without the lock, and the version it was read at (``read_at``, for ``append_if_current``);
    None where there is no such subject. One snapshot for all."""
    external_ids, purpose_keys, channels = (list(column) for column in zip(*wanted, strict=True))
    rows = await statements.fetch(session, _WRITE_FACTS, external_ids, purpose_keys, channels)
    found: list[WriteFacts | None] = [None] * len(wanted)
    for row in rows:
        values = tuple(row)
        facts = facts_of(values[1:-1])
        state = facts.state
        read_at = ReadVersion(values[-1], state.last_event_id if state else None)
        found[values[0] - 1] = msgspec.structs.replace(facts, read_at=read_at)
    return found


async def append_if_current(
    session: Transaction, appends: Sequence[tuple[PendingAppend, ReadVersion]]
) -> list[tuple[StoredEvent, ConsentStateRow] | None]:
    """Append each event, decided on the read at its version, if its subject row and state
    are still so once the subject is locked; for each, its event and projection row, or None
    with nothing of it written. At most one event per subject."""
    subjects = {pending.subject_id for pending, _ in appends}
    if len(subjects) != len(appends):
        raise ValueError("one optimistic append per subject at a time")
    columns: list[list[Any]] = [[] for _ in _VALUE_TYPES]
    for pending, read_at in appends:
        for column, value in zip(
            columns,
            (*pending.values(), read_at.subject_xmin, read_at.last_event_id),
            strict=True,
        ):
            column.append(value)
    rows = await statements.fetch(session, _APPEND_IF_CURRENT, *columns)
    written: list[tuple[StoredEvent, ConsentStateRow] | None] = [None] * len(appends)
    for n, ledger_id, recorded_at in rows:
        written[n - 1] = appends[n - 1][0].stored(ledger_id, recorded_at)
    if rows:
        note_recorded(session)
    return written
