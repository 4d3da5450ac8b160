"""Use cases on a subject's contact preferences: read with an ETag, change under If-Match."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.consent.db import preferences as repo
from services.consent.domain.preference_changes import PreferenceChange, describe_change
from services.consent.domain.preferences import (
    Document,
    MergePatch,
    apply_patch,
    etag,
    from_stored,
    if_match_allows,
)
from services.consent.service.subjects import live_subject
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.tokens import Principal
from shared.db.statements import Transaction
from shared.errors import InvalidInput, PreconditionFailed, PreconditionRequired

SERVICE = "consent"


@dataclass(frozen=True, slots=True)
class PreferencesView:
    """The document and the version its ETag is made from."""

    doc: Document
    version: int

    @property
    def etag(self) -> str:
        return etag(self.version)


class PreferenceService:
    def __init__(self, session: Transaction) -> None:
        self.session = session

    async def get(self, external_id: str) -> PreferencesView:
        subject = await live_subject(self.session, external_id)
        return await self._current(subject.id)

    async def patch(
        self, external_id: str, patch: MergePatch, if_match: str | None, principal: Principal
    ) -> PreferencesView:
        """Apply ``patch`` if ``if_match`` still names the stored version (never a lost update)."""
        if not if_match:
            raise PreconditionRequired(
                "Send If-Match with the ETag from GET (or '*') so a concurrent change is not lost."
            )
        # The subject row lock serialises writers; the version is compared under it.
        subject_id = (await live_subject(self.session, external_id, for_update=True)).id
        current = await self._current(subject_id)
        if not if_match_allows(if_match, current.version):
            raise PreconditionFailed(
                "The preferences changed since you read them; GET them again.", etag=current.etag
            )
        now = datetime.now(UTC)
        new_doc = apply_patch(current.doc, patch, now=now, role=principal.role)
        await self._require_known_purposes(new_doc, current.doc)
        change = describe_change(current.doc, new_doc, now)
        if not change.changed:
            return current
        version = await self._store(subject_id, new_doc, current.version, now)
        await self._record(subject_id, change, version, principal.actor)
        return PreferencesView(new_doc, version)

    async def _current(self, subject_id: uuid.UUID) -> PreferencesView:
        row = await repo.get(self.session, subject_id)
        if row is None:
            return PreferencesView(from_stored(None), 0)
        return PreferencesView(from_stored(row.doc), row.version)

    async def _require_known_purposes(self, new_doc: Document, old_doc: Document) -> None:
        added = sorted(set(new_doc["topics"]) - set(old_doc["topics"]))
        unknown = set(added) - await repo.known_purposes(self.session, added)
        if unknown:
            raise InvalidInput("A key of topics names no purpose in the catalogue.", field="topics")

    async def _store(
        self, subject_id: uuid.UUID, doc: Document, version: int, now: datetime
    ) -> int:
        if version == 0:
            return await repo.insert_first(self.session, subject_id, doc, now)
        new_version = await repo.replace(self.session, subject_id, doc, version, now)
        if new_version is None:  # unreachable under the row lock; refuse rather than overwrite
            raise PreconditionFailed("The preferences changed since you read them; GET them again.")
        return new_version

    async def _record(
        self, subject_id: uuid.UUID, change: PreferenceChange, version: int, actor: str
    ) -> None:
        data = {
            "fields": change.fields,
            "values": change.values,
            "version": version,
            "actor": actor,
            "send_less": change.send_less,
            "marketing_resumed": change.marketing_resumed,
        }
        await self._event("preference.changed", subject_id, data)
        if change.send_less:
            await self._event(
                "preference.send_less",
                subject_id,
                {
                    "reasons": change.send_less,
                    "version": version,
                    "actor": actor,
                    "values": {
                        k: v
                        for k, v in change.values.items()
                        if k.endswith(".frequency")
                        or k == "paused_until"
                        or k.startswith("topics.")
                    },
                },
            )

    async def _event(self, type_: str, subject_id: uuid.UUID, data: dict[str, Any]) -> None:
        # Audit data is free-form JSON by design; each event type documents its own keys.
        await record_event(
            self.session,
            AuditEvent(service=SERVICE, type=type_, subject=str(subject_id), data=data),
        )
