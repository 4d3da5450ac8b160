"""Art. 15 access: everything the consent service holds of one subject, decrypted.

Computed afresh on every call, never stored: the connector job record keeps no personal data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import erasure as erasure_repo
from services.consent.db import preferences as preferences_repo
from services.consent.db import purposes as purposes_repo
from services.consent.db.subjects import SubjectRow
from services.consent.domain.purposes import Purpose
from services.consent.service.consents import ConsentService, ConsentState, HistoryEntry
from services.consent.service.receipts import LedgerContext
from services.consent.service.subjects import SubjectService
from shared.keys import Keyring

HISTORY_PAGE = 500


class ReceiptRef(msgspec.Struct, frozen=True):
    id: uuid.UUID
    event_id: uuid.UUID
    created_at: datetime


class SubjectData(msgspec.Struct, frozen=True):
    """One subject's record as docs/consent-connector.md describes it."""

    external_id: str
    email: str | None
    phone: str | None
    name: str | None
    birth_date: date | None
    locale: str
    created_at: datetime
    consents: list[ConsentState]
    history: list[HistoryEntry]
    preferences: dict[str, Any] | None
    receipts: list[ReceiptRef]


class AccessData(msgspec.Struct, frozen=True):
    """An access job's ``data``: the subjects the identity matched and their purposes."""

    subjects: list[SubjectData]
    purposes: list[Purpose]


class SubjectAccess:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.subjects = SubjectService(session, keyring)
        self.consents = ConsentService(session, keyring, context)

    async def collect(self, rows: list[SubjectRow]) -> dict[str, Any]:
        """The access ``data`` of the live subjects ``rows``, as plain JSON values."""
        records = [await self._subject(row) for row in rows]
        keys = sorted(
            {c.purpose for r in records for c in r.consents}
            | {h.purpose_key for r in records for h in r.history}
        )
        purposes = [p for key in keys if (p := await purposes_repo.get(self.session, key))]
        data: dict[str, Any] = msgspec.to_builtins(AccessData(records, purposes))
        return data

    async def _subject(self, row: SubjectRow) -> SubjectData:
        subject = await self.subjects.get(row.external_id)
        stored = await preferences_repo.get(self.session, row.id)
        receipts = await erasure_repo.receipts_of(self.session, row.id)
        return SubjectData(
            external_id=subject.external_id,
            email=subject.email,
            phone=subject.phone,
            name=subject.name,
            birth_date=subject.birth_date,
            locale=subject.locale,
            created_at=subject.created_at,
            consents=await self.consents.states(row.external_id),
            history=await self._history(row.external_id),
            preferences=dict(stored.doc) if stored else None,
            receipts=[ReceiptRef(*receipt) for receipt in receipts],
        )

    async def _history(self, external_id: str) -> list[HistoryEntry]:
        """The whole ledger of the subject, reasons opened, read page by page."""
        entries: list[HistoryEntry] = []
        while True:
            after = entries[-1].sequence if entries else 0
            page = await self.consents.history(
                external_id, reveal_reason=True, after=after, limit=HISTORY_PAGE
            )
            entries += page
            if len(page) < HISTORY_PAGE:
                return entries
