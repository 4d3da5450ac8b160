"""Use cases on subjects: create/update with encrypted personal data, read, find by email."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import subjects as repo
from services.consent.db.subjects import SealedField, SubjectRow
from services.consent.domain.subjects import PERSONAL_FIELDS, SubjectChanges, clean_email
from services.consent.service.suppression import suppression_hash
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.crypto import keyed_hash, normalise_phone
from shared.db.statements import Transaction
from shared.errors import NotFound
from shared.keys import Keyring

SERVICE = "consent"


class Subject(msgspec.Struct, frozen=True):
    """A subject with its personal data decrypted, for the API edge only."""

    id: uuid.UUID
    external_id: str
    email: str | None
    phone: str | None
    name: str | None
    birth_date: date | None
    locale: str
    created_at: datetime
    updated_at: datetime


async def live_subject(
    session: Transaction, external_id: str, *, for_update: bool = False
) -> SubjectRow:
    """The subject's row; an unknown and an erased subject are both simply not found."""
    return require_live(await repo.get_by_external_id(session, external_id, for_update=for_update))


def require_live(row: SubjectRow | None) -> SubjectRow:
    """``row`` if it is a subject not erased; otherwise NotFound, as if it never existed."""
    if row is None or row.erased_at is not None:
        raise NotFound("There is no such subject.")
    return row


def _as_text(value: str | date | None) -> str | None:
    """A personal field's value as it is sealed (a date in ISO form)."""
    return value.isoformat() if isinstance(value, date) else value


class SubjectService:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.vault = SubjectVault(session, keyring)

    async def put(
        self, external_id: str, changes: SubjectChanges, actor: str
    ) -> tuple[Subject, bool]:
        """Create the subject or apply ``changes``; returns the subject and whether it is new."""
        now = datetime.now(UTC)
        row = await repo.get_by_external_id(self.session, external_id, for_update=True)
        if row is None:
            # Creators of one subject take turns; a later one finds the first one's row and
            # becomes an update of it.
            await repo.wait_for_creators(self.session, external_id)
            row = await repo.get_by_external_id(self.session, external_id, for_update=True)
        if row is None:
            await self._create(external_id, changes, actor, now)
            return await self.get(external_id), True
        await self._update(row, changes, actor, now)
        return await self.get(external_id), False

    async def _create(
        self, external_id: str, changes: SubjectChanges, actor: str, now: datetime
    ) -> None:
        subject_id = uuid.uuid4()
        await repo.insert_subject(
            self.session, subject_id, external_id, changes.locale or "en", now
        )
        dek = await self.vault.create_key(subject_id)
        changed = [name for name, value in changes.fields.items() if value is not None]
        await self._save(subject_id, dek, changes, changed, "subject.created", actor, now)

    async def _update(
        self, row: SubjectRow, changes: SubjectChanges, actor: str, now: datetime
    ) -> None:
        if row.erased_at is not None:
            raise NotFound("This subject was erased.")
        dek = await self.vault.data_key(row.id)
        changed = self._changed_fields(row, dek, changes)
        if changes.locale is not None and changes.locale != row.locale:
            changed.append("locale")
        if changed:
            await self._save(row.id, dek, changes, changed, "subject.updated", actor, now)

    async def _save(
        self,
        subject_id: uuid.UUID,
        dek: bytes,
        changes: SubjectChanges,
        changed: list[str],
        event_type: str,
        actor: str,
        now: datetime,
    ) -> None:
        sealed = {
            name: self._seal(subject_id, dek, name, _as_text(value))
            for name, value in changes.fields.items()
        }
        await repo.update_subject(self.session, subject_id, sealed, changes.locale, now)
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=event_type,
                subject=str(subject_id),
                data={"fields": sorted(changed), "actor": actor},
            ),
        )

    async def get(self, external_id: str) -> Subject:
        return await self._open(await live_subject(self.session, external_id))

    async def find_by_email(self, email: str) -> list[Subject]:
        index = keyed_hash(self.keyring.index_key, clean_email(email))
        return [
            await self._open(row) for row in await repo.find_by_email_index(self.session, index)
        ]

    async def _open(self, row: SubjectRow) -> Subject:
        dek = await self.vault.data_key(row.id)
        opened = {f: self.vault.open_field(dek, row.id, f, row.sealed(f)) for f in PERSONAL_FIELDS}
        birth = opened["birth_date"]
        return Subject(
            id=row.id,
            external_id=row.external_id,
            email=opened["email"],
            phone=opened["phone"],
            name=opened["name"],
            birth_date=date.fromisoformat(birth) if birth else None,
            locale=row.locale,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _changed_fields(self, row: SubjectRow, dek: bytes, changes: SubjectChanges) -> list[str]:
        return [
            name
            for name, value in changes.fields.items()
            if self.vault.open_field(dek, row.id, name, row.sealed(name)) != _as_text(value)
        ]

    def _seal(self, subject_id: uuid.UUID, dek: bytes, name: str, text: str | None) -> SealedField:
        """``text`` sealed for field ``name``, with the blind index and suppression hash that
        email and phone also carry."""
        if text is None:
            return SealedField(None)
        ciphertext = self.vault.seal_field(dek, subject_id, name, text)
        if name == "email":
            index = keyed_hash(self.keyring.index_key, text)
        elif name == "phone":
            index = keyed_hash(self.keyring.index_key, normalise_phone(text))
        else:
            return SealedField(ciphertext)
        return SealedField(ciphertext, index, suppression_hash(self.keyring, name, text))
