"""Feedback rows as the preference centre stores them (``services/consent/service/feedback.py``:
the text sealed with the subject's key, an audit event in the same transaction), written
directly so the dashboard's tests need not drive the preference centre's pages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from services.consent.db import subjects as subject_repo
from services.consent.service.cx_stats import FEEDBACK_TEXT_FIELD
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event


async def subject_id(session_factory: Any, external_id: str) -> uuid.UUID:
    async with session_factory() as session:
        row = await subject_repo.get_by_external_id(session, external_id)
        assert row is not None
        return row.id


async def add_feedback(
    session_factory: Any,
    keyring: Any,
    external_id: str,
    kind: str,
    reason: str | None,
    free_text: str | None,
    purpose: str | None = None,
) -> None:
    """A feedback row as ``services/consent/service/feedback.py`` writes it (text sealed with
    the subject's key under the field name the dashboard opens)."""
    sid = await subject_id(session_factory, external_id)
    async with session_factory() as session, session.begin():
        sealed = None
        if free_text:
            vault = SubjectVault(session, keyring)
            dek = await vault.data_key(sid)
            sealed = vault.seal_field(dek, sid, FEEDBACK_TEXT_FIELD, free_text)
        await session.execute(
            text(
                "INSERT INTO feedback (id, subject_id, kind, purpose_key, channel, reason_code,"
                " text_ct) VALUES (:id, :sid, :kind, :purpose, 'email', :reason, :ct)"
            ),
            {
                "id": uuid.uuid4(),
                "sid": sid,
                "kind": kind,
                "purpose": purpose,
                "reason": reason,
                "ct": sealed,
            },
        )
        # As the preference centre records it (a write without an event would not commit).
        await record_event(
            session,
            AuditEvent(
                service="consent",
                type="feedback.given",
                subject=str(sid),
                data={"kind": kind, "reason": reason, "has_text": sealed is not None},
            ),
        )
