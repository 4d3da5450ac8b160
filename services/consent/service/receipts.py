"""Receipts: sign a consent receipt for each ledger event, store it, hand it back on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.db import purposes as purpose_repo
from services.consent.db.ledger import NewReceipt
from services.consent.db.subjects import SubjectRow
from services.consent.domain.consents import NewEvent
from services.consent.domain.receipts import (
    RECEIPT_TOKEN,
    ControllerIdentity,
    ReceiptFacts,
    receipt_claims,
)
from services.consent.settings import ControllerSettings
from shared.auth.tokens import Principal, sign_claims
from shared.db.statements import Transaction
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
            address=controller.address,
            email=controller.email,
            phone=controller.phone,
            url=controller.url,
            storage_location=controller.storage_location,
        )
        return cls(public_base_url=base, controller=identity)


class IssuedReceipt(msgspec.Struct, frozen=True):
    """A receipt just signed for a ledger event: its id and compact JWS."""

    id: uuid.UUID
    jws: str


class Receipt(msgspec.Struct, frozen=True):
    """A stored receipt handed back, its claims decoded for convenience."""

    id: uuid.UUID
    event_id: uuid.UUID
    jws: str
    claims: dict[str, Any]  # the signed claim set, a free-form JSON object
    created_at: datetime
    verify_with: str = "/.well-known/jwks.json"


def localised(title: dict[str, str], language: str) -> str:
    """The title in the subject's language, else English, else any."""
    return title.get(language) or title.get("en") or next(iter(title.values()), "")


class ReceiptSigner:
    """Signs the receipt of each event a ledger writer appends (on whatever transaction)."""

    def __init__(self, session: Transaction, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context

    async def sign(self, subject: SubjectRow, event_id: uuid.UUID, new: NewEvent) -> NewReceipt:
        """The signed receipt of ``new``, to be stored with it as ``event_id``."""
        purpose = new.purpose
        title = (
            purpose.title  # the purpose comes with its current version's text
            if new.version == purpose.current_version
            else (await purpose_repo.get_version(self.session, purpose.key, new.version)).title
        )
        facts = ReceiptFacts(
            receipt_id=uuid.uuid4(),
            subject_id=subject.id,
            language=subject.locale,
            event_id=event_id,
            event=new,
            purpose_title=localised(title, subject.locale),
        )
        now = datetime.now(UTC)
        jws = sign_claims(
            self.keyring, receipt_claims(facts, self.context.controller, now), RECEIPT_TOKEN
        )
        return NewReceipt(facts.receipt_id, jws, now)


class ReceiptService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context

    async def get(self, receipt_id: uuid.UUID, principal: Principal) -> Receipt:
        """A stored receipt; a subject-bound portal token sees only its own subject's (others
        read as absent), like the guard's rule on routes that name their subject."""
        row = await repo.get_receipt(self.session, receipt_id)
        if row is None or row.erased_at is not None:
            raise NotFound("There is no such receipt.")
        bound = principal.role == "portal" and principal.subject is not None
        if bound and principal.subject != row.external_id:
            raise NotFound("There is no such receipt.")
        # Claims decoded for convenience only; the JWS is the evidence and verifies on its own.
        claims = jwt.decode(row.jws, options={"verify_signature": False})
        return Receipt(row.id, row.event_id, row.jws, claims, row.created_at)
