"""Appending one consent event: ledger row, projection, receipt and audit event, together.

Callers hold the subject's row lock; this writes everything one event needs in their
transaction, so the ledger, the projection and the audit trail can never disagree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.db.ledger import ConsentStateRow
from services.consent.db.subjects import SubjectRow
from services.consent.domain.consents import LedgerEvent, NewEvent, audit_type
from services.consent.service.receipts import IssuedReceipt, LedgerContext, ReceiptService
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring

SERVICE = "consent"
REASON_FIELD = "consent_reason"


@dataclass(frozen=True, slots=True)
class Appended:
    event: LedgerEvent
    state: ConsentStateRow  # the projection row as this append left it
    receipt: IssuedReceipt


class LedgerWriter:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.vault = SubjectVault(session, keyring)
        self.receipts = ReceiptService(session, keyring, context)

    async def append(self, subject: SubjectRow, new: NewEvent) -> Appended:
        """Append ``new`` for ``subject`` (whose row the caller has locked)."""
        reason_ct = reason_b64 = None
        if new.reason:
            dek = await self.vault.data_key(subject.id)
            reason_ct = self.vault.seal_field(dek, subject.id, REASON_FIELD, new.reason)
            # The audit trail's copy: another nonce under the same key, so erasure shreds it too.
            reason_b64 = self.vault.seal_text_b64(dek, subject.id, REASON_FIELD, new.reason)
        now = datetime.now(UTC)
        stored, state = await repo.append(self.session, subject.id, new, reason_ct, now)
        receipt = await self.receipts.issue(subject, new.purpose, stored.event)
        await self._audit(subject.id, new, stored.event, receipt, reason_b64)
        return Appended(stored.event, state, receipt)

    async def _audit(
        self,
        subject_id: uuid.UUID,
        new: NewEvent,
        event: LedgerEvent,
        receipt: IssuedReceipt,
        reason_sealed: str | None,
    ) -> None:
        # Audit data is free-form JSON by design; each event type documents its own keys.
        data: dict[str, Any] = {
            "purpose": new.purpose.key,
            "version": new.version,
            "channel": new.channel,
            "source": new.source,
            "actor": new.actor,
            "given_by": new.given_by,
            "ledger_event_id": str(event.event_id),
            "receipt_id": str(receipt.id),
        }
        if reason_sealed is not None:
            # Free text never enters the audit trail in the clear; erasure shreds this copy too.
            data["reason_sealed"] = reason_sealed
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=audit_type(new.action, new.state),
                subject=str(subject_id),
                data=data,
            ),
        )
