"""Use cases on a subject's consents: grant, withdraw, read the current state and the history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.db import purposes as purpose_repo
from services.consent.db import subjects as subject_repo
from services.consent.domain.consents import (
    ConsentRequest,
    PurposeTerms,
    StoredState,
    decide,
    effective,
)
from services.consent.domain.errors import UnknownPurpose
from services.consent.domain.subjects import age_on
from services.consent.service.evidence import Evidence, hash_evidence
from services.consent.service.ledger import REASON_FIELD, LedgerWriter, NewEvent, public_event
from services.consent.service.receipts import IssuedReceipt, LedgerContext
from services.consent.service.vault import SubjectVault
from shared.auth.tokens import sign_claims
from shared.errors import NotFound
from shared.keys import Keyring

CONFIRM_TYP = "confirm"
CONFIRM_TTL = timedelta(days=7)


@dataclass(frozen=True)
class ConsentView:
    """Current state of one purpose and channel, with expiry and renewal read at this moment."""

    purpose: str
    channel: str
    state: str
    purpose_version: int
    granted_at: datetime | None
    expires_at: datetime | None
    renewal_required: bool
    updated_at: datetime


@dataclass(frozen=True)
class Recorded:
    event: dict[str, Any]
    state: ConsentView
    receipt: IssuedReceipt
    notice: str | None
    confirmation_url: str | None


def view_of(row: dict[str, Any], terms: PurposeTerms, now: datetime) -> ConsentView:
    stored = StoredState(row["state"], row["purpose_version"], row["granted_at"])
    seen = effective(stored, terms, now)
    return ConsentView(
        purpose=terms.key,
        channel=row["channel"],
        state=seen.state,
        purpose_version=row["purpose_version"],
        granted_at=row["granted_at"],
        expires_at=seen.expires_at,
        renewal_required=seen.renewal_required,
        updated_at=row["updated_at"],
    )


class ConsentService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context
        self.vault = SubjectVault(session, keyring)

    async def record(
        self, external_id: str, request: ConsentRequest, evidence: Evidence, actor: str
    ) -> Recorded:
        """Append a grant or withdrawal for the subject, serialised by the subject's row lock."""
        subject = await self._subject(external_id, for_update=True)
        purpose = await purpose_repo.get(self.session, request.purpose)
        if purpose is None:
            raise UnknownPurpose(f"There is no purpose '{request.purpose}'.", field="purpose")
        terms = PurposeTerms.from_row(purpose)
        row = await repo.current_state(self.session, subject["id"], terms.key, request.channel)
        stored = (
            StoredState(row["state"], row["purpose_version"], row["granted_at"]) if row else None
        )
        now = datetime.now(UTC)
        age = await self._age(subject, terms, now) if request.action == "grant" else None
        decision = decide(request, terms, stored, age, now)
        hashes = hash_evidence(self.keyring, evidence)
        appended = await LedgerWriter(self.session, self.keyring, self.context).append(
            subject,
            NewEvent(
                purpose=purpose,
                version=decision.version,
                channel=request.channel,
                action=request.action,
                state=decision.state,
                source=request.source,
                actor=actor,
                given_by=request.given_by,
                collection_method=request.collection_method,
                occurred_at=now,
                page=request.page,
                reason=request.reason,
                ip_hash=hashes.ip_hash,
                ua_hash=hashes.ua_hash,
            ),
        )
        state_row = await repo.current_state(
            self.session, subject["id"], terms.key, request.channel
        )
        assert state_row is not None  # written just above, in this transaction
        url = (
            self._confirmation_url(subject["id"], appended.event, now)
            if decision.needs_confirmation
            else None
        )
        return Recorded(
            public_event(appended.event),
            view_of(state_row, terms, now),
            appended.receipt,
            decision.notice,
            url,
        )

    async def states(self, external_id: str) -> list[ConsentView]:
        subject = await self._subject(external_id)
        now = datetime.now(UTC)
        return [
            view_of(row, PurposeTerms.from_row({**row, "key": row["purpose_key"]}), now)
            for row in await repo.states_for_subject(self.session, subject["id"])
        ]

    async def history(
        self, external_id: str, *, reveal_reason: bool, after: int = 0, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Ledger rows in order; the withdrawal reason is opened only when ``reveal_reason``."""
        subject = await self._subject(external_id)
        rows = await repo.history(self.session, subject["id"], after, limit)
        dek = await self.vault.data_key(subject["id"]) if reveal_reason else None
        out = []
        for row in rows:
            entry = {**public_event(row), "sequence": row["id"]}
            if dek is not None:
                entry["reason"] = self.vault.open_field(
                    dek, subject["id"], REASON_FIELD, row["reason_ct"]
                )
            out.append(entry)
        return out

    async def _subject(self, external_id: str, *, for_update: bool = False) -> dict[str, Any]:
        subject = await subject_repo.get_by_external_id(
            self.session, external_id, for_update=for_update
        )
        if subject is None or subject["erased_at"] is not None:
            raise NotFound("There is no such subject.")
        return subject

    async def _age(self, subject: dict[str, Any], terms: PurposeTerms, now: datetime) -> int | None:
        """Completed years, only when the purpose has a minimum age and a birth date is known."""
        if terms.min_age is None or subject["birth_date_ct"] is None:
            return None
        dek = await self.vault.data_key(subject["id"])
        birth = self.vault.open_field(dek, subject["id"], "birth_date", subject["birth_date_ct"])
        return age_on(date.fromisoformat(birth), now.date()) if birth else None

    def _confirmation_url(self, subject_id: uuid.UUID, event: dict[str, Any], now: datetime) -> str:
        token = sign_claims(
            self.keyring,
            {
                "sub": str(subject_id),
                "purpose": event["purpose_key"],
                "channel": event["channel"],
                "event": str(event["event_id"]),
                "iat": int(now.timestamp()),
                "exp": int((now + CONFIRM_TTL).timestamp()),
            },
            typ=CONFIRM_TYP,
        )
        return f"{self.context.public_base_url}/v1/confirm/{token}"
