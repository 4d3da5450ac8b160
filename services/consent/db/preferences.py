"""Queries on a subject's stored preference document and its version."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import msgspec

from services.consent.domain.preferences import Document
from shared.db import statements
from shared.db.statements import Statement, Transaction


class StoredPreferences(msgspec.Struct, frozen=True):
    """The document as last saved and its version (the ETag is made from it)."""

    doc: Document
    version: int


# A preference centre reads and writes these on every change: prepared statements. The
# document travels as JSON text (jsonb), as the session's connections take and give it.
_GET = Statement("SELECT doc, version FROM preferences WHERE subject_id = $1")
_INSERT_FIRST = Statement(
    "INSERT INTO preferences (subject_id, doc, version, updated_at) VALUES ($1, $2, 1, $3)"
)
_REPLACE = Statement(
    "UPDATE preferences SET doc = $2, version = version + 1, updated_at = $4"
    " WHERE subject_id = $1 AND version = $3 RETURNING version"
)
_KNOWN_PURPOSES = Statement("SELECT key FROM purposes WHERE key = ANY($1::text[])")


async def get(session: Transaction, subject_id: uuid.UUID) -> StoredPreferences | None:
    """The stored document, or ``None`` if the subject never saved one."""
    row = await statements.fetchrow(session, _GET, subject_id)
    return StoredPreferences(*row) if row else None


async def insert_first(
    session: Transaction, subject_id: uuid.UUID, doc: Document, now: datetime
) -> int:
    """Store the first document; version 1 follows the defaults' version 0."""
    await statements.execute(session, _INSERT_FIRST, subject_id, json.dumps(doc), now)
    return 1


async def replace(
    session: Transaction,
    subject_id: uuid.UUID,
    doc: Document,
    expected_version: int,
    now: datetime,
) -> int | None:
    """Write ``doc`` only if the stored version is still ``expected_version``; the new version."""
    row = await statements.fetchrow(
        session, _REPLACE, subject_id, json.dumps(doc), expected_version, now
    )
    return int(row[0]) if row else None


async def known_purposes(session: Transaction, keys: list[str]) -> set[str]:
    """Which of ``keys`` name a purpose in the catalogue (topics hang under real purposes)."""
    if not keys:
        return set()
    rows = await statements.fetch(session, _KNOWN_PURPOSES, keys)
    return {row[0] for row in rows}
