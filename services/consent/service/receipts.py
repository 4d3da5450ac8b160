"""Receipts: sign a consent receipt for each ledger event, store it, hand it back on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.domain.receipts import (
    RECEIPT_TYP,
    ControllerIdentity,
    ReceiptFacts,
    receipt_claims,
)
from services.consent.settings import ControllerSettings
from shared.auth.tokens import Principal, sign_claims
from shared.errors import NotFound
from shared.keys import Keyring


@dataclass(frozen=True)
class LedgerContext:
    """Deployment facts every ledger write needs: where links point, who the controller is."""

    public_base_url: str
    controller: ControllerIdentity

    @classmethod
    def from_settings(cls, public_base_url: str, controller: ControllerSettings) -> LedgerContext:
        """Built once at start-up from ``Settings.http`` and ``ConsentSettings.controller``."""
        base = public_base_url.rstrip("/")
        identity = ControllerIdentity(
            name=controller.name,
            contact=controller.contact,
            jurisdiction=controller.jurisdiction,
            policy_url=controller.policy_url or f"{base}/privacy",
        )
        return cls(public_base_url=base, controller=identity)


@dataclass(frozen=True)
class IssuedReceipt:
    id: uuid.UUID
    jws: str


@dataclass(frozen=True)
class StoredReceipt:
    id: uuid.UUID
    event_id: uuid.UUID
    jws: str
    created_at: datetime


def localised(title: dict[str, str], language: str) -> str:
    """The title in the subject's language, else English, else any."""
    return title.get(language) or title.get("en") or next(iter(title.values()), "")


class ReceiptService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context

    async def issue(
        self, subject: dict[str, Any], purpose: dict[str, Any], event: dict[str, Any]
    ) -> IssuedReceipt:
        """Sign and store the receipt of ``event`` (a ledger row) in the current transaction."""
        text = await repo.purpose_text(self.session, event["purpose_key"], event["purpose_version"])
        facts = ReceiptFacts(
            receipt_id=uuid.uuid4(),
            subject_id=subject["id"],
            language=subject["locale"],
            event_id=event["event_id"],
            action=event["action"],
            state=event["state"],
            purpose_key=event["purpose_key"],
            purpose_version=event["purpose_version"],
            purpose_title=localised(text["title"], subject["locale"]),
            legal_basis=purpose["legal_basis"],
            channel=event["channel"],
            collection_method=event["collection_method"],
            source=event["source"],
            given_by=event["given_by"],
            validity_days=purpose["validity_days"],
            sale_or_sharing=purpose["sale_or_sharing"],
            occurred_at=event["occurred_at"],
        )
        now = datetime.now(UTC)
        jws = sign_claims(
            self.keyring, receipt_claims(facts, self.context.controller, now), typ=RECEIPT_TYP
        )
        await repo.insert_receipt(
            self.session, facts.receipt_id, subject["id"], event["event_id"], jws, now
        )
        return IssuedReceipt(facts.receipt_id, jws)

    async def get(self, receipt_id: uuid.UUID, principal: Principal) -> StoredReceipt:
        """A stored receipt; a subject-bound portal token sees only its own subject's (others
        read as absent), like the guard's rule on routes that name their subject."""
        row = await repo.get_receipt(self.session, receipt_id)
        if row is None or row["erased_at"] is not None:
            raise NotFound("There is no such receipt.")
        bound = principal.role == "portal" and principal.subject is not None
        if bound and principal.subject != row["external_id"]:
            raise NotFound("There is no such receipt.")
        return StoredReceipt(row["id"], row["event_id"], row["jws"], row["created_at"])
