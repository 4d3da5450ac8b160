"""Appending one consent event: ledger row, projection, receipt and audit event, together.

Callers hold the subject's row lock; this writes everything one event needs in their
transaction, in one statement, so the ledger, the projection, the receipts and the audit trail
can never disagree. (Optimistic writes prepare the same ``PendingAppend`` and write it with
``services.consent.db.optimistic``.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from services.consent.db import ledger as repo
from services.consent.db.ledger import ConsentStateRow, PendingAppend, StoredEvent
from services.consent.db.subjects import SubjectRow, WrappedKey
from services.consent.domain.consents import LedgerEvent, NewEvent, audit_type
from services.consent.service.receipts import IssuedReceipt, LedgerContext, ReceiptSigner
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent
from shared.db.statements import Transaction
from shared.keys import Keyring

SERVICE = "consent"
REASON_FIELD = "consent_reason"


@dataclass(frozen=True, slots=True)
class Appended:
    event: LedgerEvent
    state: ConsentStateRow  # the projection row as this append left it
    receipt: IssuedReceipt


class LedgerWriter:
    def __init__(self, session: Transaction, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.vault = SubjectVault(session, keyring)
        self.receipts = ReceiptSigner(session, keyring, context)

    async def append(
        self, subject: SubjectRow, new: NewEvent, key: WrappedKey | None = None
    ) -> Appended:
        """Append ``new`` for ``subject`` (whose row the caller has locked): the ledger row,
        its projection, its signed receipt and its audit event, in one statement.

        ``key``: the subject's wrapped data key if the caller has read it already."""
        pending = await self.prepare(subject, new, key)
        return appended(pending, *await repo.append(self.session, pending))

    async def prepare(
        self, subject: SubjectRow, new: NewEvent, key: WrappedKey | None = None
    ) -> PendingAppend:
        """Everything the append of ``new`` writes: the reason sealed, the receipt signed,
        the audit event made; nothing is written yet."""
        reason_ct = reason_b64 = None
        if new.reason:
            dek = (
                self.vault.open_key(subject.id, key)
                if key is not None
                else await self.vault.data_key(subject.id)
            )
            reason_ct = self.vault.seal_field(dek, subject.id, REASON_FIELD, new.reason)
            # The audit trail's copy: another nonce under the same key, so erasure shreds it too.
            reason_b64 = self.vault.seal_text_b64(dek, subject.id, REASON_FIELD, new.reason)
        event_id = uuid.uuid4()
        receipt = await self.receipts.sign(subject, event_id, new)
        audit = _audit_event(subject.id, new, event_id, receipt.id, reason_b64)
        return PendingAppend(subject.id, event_id, new, reason_ct, receipt, audit)


def appended(pending: PendingAppend, stored: StoredEvent, state: ConsentStateRow) -> Appended:
    """What the append of ``pending`` left, once written as ``stored`` and ``state``."""
    receipt = pending.receipt
    return Appended(stored.event, state, IssuedReceipt(receipt.id, receipt.jws))


def _audit_event(
    subject_id: uuid.UUID,
    new: NewEvent,
    event_id: uuid.UUID,
    receipt_id: uuid.UUID,
    reason_sealed: str | None,
) -> AuditEvent:
    # Audit data is free-form JSON by design; each event type documents its own keys.
    data: dict[str, Any] = {
        "purpose": new.purpose.key,
        "version": new.version,
        "channel": new.channel,
        "source": new.source,
        "actor": new.actor,
        "given_by": new.given_by,
        "ledger_event_id": str(event_id),
        "receipt_id": str(receipt_id),
    }
    if reason_sealed is not None:
        # Free text never enters the audit trail in the clear; erasure shreds this copy too.
        data["reason_sealed"] = reason_sealed
    return AuditEvent(
        service=SERVICE, type=audit_type(new.action, new.state), subject=str(subject_id), data=data
    )
