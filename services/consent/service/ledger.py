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
from services.consent.domain.consents import audit_type
from services.consent.service.receipts import IssuedReceipt, LedgerContext, ReceiptService
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring

SERVICE = "consent"
REASON_FIELD = "consent_reason"


@dataclass(frozen=True)
class NewEvent:
    """A ledger event to append; ``reason`` is sealed before it is stored."""

    purpose: dict[str, Any]
    version: int
    channel: str
    action: str
    state: str
    source: str
    actor: str
    given_by: str
    collection_method: str
    occurred_at: datetime
    page: str | None = None
    ip_hash: bytes | None = None
    ua_hash: bytes | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Appended:
    event: dict[str, Any]
    receipt: IssuedReceipt


class LedgerWriter:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.vault = SubjectVault(session, keyring)
        self.receipts = ReceiptService(session, keyring, context)

    async def append(self, subject: dict[str, Any], new: NewEvent) -> Appended:
        """Append ``new`` for ``subject`` (whose row the caller has locked)."""
        subject_id: uuid.UUID = subject["id"]
        reason_ct = None
        if new.reason:
            dek = await self.vault.data_key(subject_id)
            reason_ct = self.vault.seal_field(dek, subject_id, REASON_FIELD, new.reason)
        event = await repo.append_event(
            self.session,
            {
                "event_id": uuid.uuid4(),
                "subject_id": subject_id,
                "purpose_key": new.purpose["key"],
                "purpose_version": new.version,
                "channel": new.channel,
                "action": new.action,
                "state": new.state,
                "source": new.source,
                "actor": new.actor,
                "given_by": new.given_by,
                "collection_method": new.collection_method,
                "page": new.page,
                "ip_hash": new.ip_hash,
                "ua_hash": new.ua_hash,
                "reason_ct": reason_ct,
                "occurred_at": new.occurred_at,
            },
        )
        now = datetime.now(UTC)
        granted_at = new.occurred_at if new.state == "granted" else None
        await repo.upsert_state(self.session, event, granted_at, now)
        receipt = await self.receipts.issue(subject, new.purpose, event)
        await self._audit(subject_id, new, event, receipt)
        return Appended(event, receipt)

    async def _audit(
        self, subject_id: uuid.UUID, new: NewEvent, event: dict[str, Any], receipt: IssuedReceipt
    ) -> None:
        data: dict[str, Any] = {
            "purpose": new.purpose["key"],
            "version": new.version,
            "channel": new.channel,
            "source": new.source,
            "actor": new.actor,
            "given_by": new.given_by,
            "ledger_event_id": str(event["event_id"]),
            "receipt_id": str(receipt.id),
        }
        if new.reason:
            # Free text never enters the audit trail in the clear; erasure shreds this copy too.
            data["reason_sealed"] = await self.vault.seal_text_b64(
                subject_id, REASON_FIELD, new.reason
            )
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=audit_type(new.action, new.state),
                subject=str(subject_id),
                data=data,
            ),
        )


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """A ledger row without evidence hashes or sealed text, for responses."""
    return {
        k: event[k]
        for k in (
            "event_id",
            "purpose_key",
            "purpose_version",
            "channel",
            "action",
            "state",
            "source",
            "actor",
            "given_by",
            "collection_method",
            "page",
            "occurred_at",
            "recorded_at",
        )
    }
