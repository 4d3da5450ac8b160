"""Use cases on subjects: create/update with encrypted personal data, read, find by email."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import subjects as repo
from services.consent.domain.subjects import SubjectChanges, clean_email
from services.consent.service.suppression import suppression_hash
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.crypto import keyed_hash, normalise_phone
from shared.errors import NotFound
from shared.keys import Keyring

SERVICE = "consent"


@dataclass(frozen=True)
class SubjectView:
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


class SubjectService:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.vault = SubjectVault(session, keyring)

    async def put(
        self, external_id: str, changes: SubjectChanges, actor: str
    ) -> tuple[SubjectView, bool]:
        """Create the subject or apply ``changes``; returns the view and whether it was created."""
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
        self, row: dict[str, Any], changes: SubjectChanges, actor: str, now: datetime
    ) -> None:
        if row["erased_at"] is not None:
            raise NotFound("This subject was erased.")
        subject_id = row["id"]
        dek = await self.vault.data_key(subject_id)
        changed = self._changed_fields(row, dek, changes)
        if changes.locale is not None and changes.locale != row["locale"]:
            changed.append("locale")
        if changed:
            await self._save(subject_id, dek, changes, changed, "subject.updated", actor, now)

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
        values = self._column_values(subject_id, dek, changes)
        await repo.update_subject(self.session, subject_id, {**values, "updated_at": now})
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=event_type,
                subject=str(subject_id),
                data={"fields": sorted(changed), "actor": actor},
            ),
        )

    async def get(self, external_id: str) -> SubjectView:
        row = await repo.get_by_external_id(self.session, external_id)
        if row is None or row["erased_at"] is not None:
            raise NotFound("There is no such subject.")
        return await self._view(row)

    async def find_by_email(self, email: str) -> list[SubjectView]:
        index = keyed_hash(self.keyring.index_key, clean_email(email))
        return [
            await self._view(row) for row in await repo.find_by_email_index(self.session, index)
        ]

    async def _view(self, row: dict[str, Any]) -> SubjectView:
        subject_id = row["id"]
        dek = await self.vault.data_key(subject_id)
        opened = {
            f: self.vault.open_field(dek, subject_id, f, row[f"{f}_ct"])
            for f in ("email", "phone", "name", "birth_date")
        }
        birth = opened.pop("birth_date")
        return SubjectView(
            id=subject_id,
            external_id=row["external_id"],
            email=opened["email"],
            phone=opened["phone"],
            name=opened["name"],
            birth_date=date.fromisoformat(birth) if birth else None,
            locale=row["locale"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def _changed_fields(
        self, row: dict[str, Any], dek: bytes, changes: SubjectChanges
    ) -> list[str]:
        changed = []
        for name, value in changes.fields.items():
            current = self.vault.open_field(dek, row["id"], name, row[f"{name}_ct"])
            new = value.isoformat() if isinstance(value, date) else value
            if current != new:
                changed.append(name)
        return changed

    def _column_values(
        self, subject_id: uuid.UUID, dek: bytes, changes: SubjectChanges
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in changes.fields.items():
            text = value.isoformat() if isinstance(value, date) else value
            values[f"{name}_ct"] = (
                None if text is None else self.vault.seal_field(dek, subject_id, name, text)
            )
            if name == "email":
                values["email_index"] = (
                    None if text is None else keyed_hash(self.keyring.index_key, text)
                )
                values["email_suppression"] = (
                    None if text is None else suppression_hash(self.keyring, name, text)
                )
            if name == "phone":
                values["phone_index"] = (
                    None
                    if text is None
                    else keyed_hash(self.keyring.index_key, normalise_phone(text))
                )
                values["phone_suppression"] = (
                    None if text is None else suppression_hash(self.keyring, name, text)
                )
        if changes.locale is not None:
            values["locale"] = changes.locale
        return values
