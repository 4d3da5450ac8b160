""" "Tell us why": the reason a customer gives on a withdrawal or "send me less", for the CX
dashboard. The choice is a code; free text is sealed with the subject's data key (erasing the
subject shreds it) and never enters the audit event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import feedback as repo
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import InvalidInput
from shared.keys import Keyring

REASONS = ("too_many", "not_relevant", "never_signed_up", "privacy", "other")
KINDS = ("withdrawal", "less", "pause", "stop_all")
TEXT_FIELD = "feedback_text"
MAX_TEXT = 2000


@dataclass(frozen=True)
class Feedback:
    kind: str
    reason: str | None
    text: str | None
    purpose: str | None = None
    channel: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.reason or self.text)


def parse_feedback(reason: str | None, free_text: str | None) -> tuple[str | None, str | None]:
    """The form's reason and text, checked (a blank text is no text)."""
    reason = reason or None
    if reason is not None and reason not in REASONS:
        raise InvalidInput("Choose one of the offered reasons.", field="reason")
    cleaned = (free_text or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_TEXT:
        raise InvalidInput(f"Keep the text under {MAX_TEXT} characters.", field="text")
    return reason, cleaned


async def give_feedback(
    session: AsyncSession, keyring: Keyring, subject_id: uuid.UUID, feedback: Feedback
) -> bool:
    """Store the feedback with its audit event; nothing when neither a reason nor text is given."""
    if not feedback.given:
        return False
    if feedback.kind not in KINDS:
        raise InvalidInput("Unknown kind of feedback.", field="kind")
    sealed = None
    if feedback.text:
        vault = SubjectVault(session, keyring)
        dek = await vault.data_key(subject_id)
        sealed = vault.seal_field(dek, subject_id, TEXT_FIELD, feedback.text)
    feedback_id = uuid.uuid4()
    await repo.insert(
        session,
        feedback_id,
        subject_id,
        feedback.kind,
        feedback.purpose,
        feedback.channel,
        feedback.reason,
        sealed,
    )
    await record_event(
        session,
        AuditEvent(
            service="consent",
            type="feedback.given",
            subject=str(subject_id),
            data={
                "feedback_id": str(feedback_id),
                "kind": feedback.kind,
                "purpose": feedback.purpose,
                "channel": feedback.channel,
                "reason": feedback.reason,
                "has_text": sealed is not None,
            },
        ),
    )
    return True
