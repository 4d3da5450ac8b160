"""Use cases on a subject's consents: grant, withdraw, read the current state and the history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as repo
from services.consent.db.ledger import (
    ConsentStateRow,
    PendingAppend,
    ReadVersion,
    StoredEvent,
    WriteFacts,
)
from services.consent.db.subjects import SubjectRow, WrappedKey
from services.consent.domain.consents import (
    ConsentRequest,
    Decision,
    LedgerEvent,
    NewEvent,
    PurposeTerms,
    decide,
    effective,
)
from services.consent.domain.errors import UnknownPurpose
from services.consent.domain.subjects import age_on
from services.consent.service.evidence import Evidence, hash_evidence
from services.consent.service.ledger import REASON_FIELD, LedgerWriter, appended
from services.consent.service.receipts import IssuedReceipt, LedgerContext
from services.consent.service.subjects import live_subject, require_live
from services.consent.service.vault import SubjectVault
from shared.auth.kinds import TokenKind
from shared.auth.tokens import sign_claims
from shared.db.statements import Transaction
from shared.keys import Keyring

# A confirmation link signed before links had their own header typ and aud still confirms
# until it expires (CONFIRM_TTL): it sits in mail already sent.
CONFIRM_LINK = TokenKind(
    claim="confirm",
    header_typ="confirm-link+jwt",
    audience="urn:lupa:link:confirm",
    accepts_legacy=True,
)
CONFIRM_TTL = timedelta(days=7)


class ConsentState(msgspec.Struct, frozen=True):
    """Current state of one purpose and channel, with expiry and renewal read at this moment."""

    purpose: str
    channel: str
    state: str
    purpose_version: int
    granted_at: datetime | None
    expires_at: datetime | None
    renewal_required: bool
    updated_at: datetime

    @classmethod
    def read(cls, row: ConsentStateRow, terms: PurposeTerms, now: datetime) -> ConsentState:
        """What the projection row ``row`` means at ``now`` under the purpose's ``terms``."""
        seen = effective(row.stored, terms, now)
        return cls(
            purpose=terms.key,
            channel=row.channel,
            state=seen.state,
            purpose_version=row.purpose_version,
            granted_at=row.granted_at,
            expires_at=seen.expires_at,
            renewal_required=seen.renewal_required,
            updated_at=row.updated_at,
        )


class ConsentRecorded(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a grant or withdrawal wrote, as the API answers it."""

    event: LedgerEvent
    state: ConsentState
    receipt: IssuedReceipt
    notice: str | None = None
    confirmation_url: str | None = None


class HistoryEntry(LedgerEvent, frozen=True):
    """A ledger event in a subject's history: its place in the ledger, its reason if shown."""

    sequence: int
    reason: str | None = None

    @classmethod
    def of(cls, stored: StoredEvent, reason: str | None = None) -> HistoryEntry:
        return cls(**msgspec.structs.asdict(stored.event), sequence=stored.id, reason=reason)


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """A grant or withdrawal decided and ready to append, and what its answer needs."""

    pending: PendingAppend
    terms: PurposeTerms
    decision: Decision
    read_at: ReadVersion | None  # the unlocked read it was decided on, if it was


class ConsentRecorder:
    """Grants and withdrawals, on any transaction: the API's hot path runs them on a plain
    asyncpg one (``shared.audit.outbox.AuditedTransactions``), pages and jobs on a session.

    ``record`` decides and appends under the subject's lock; optimistic writes
    (``services.consent.service.optimistic``) read without it and use ``plan`` and
    ``recorded``, the same decision and the same answer."""

    def __init__(self, session: Transaction, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context
        self.vault = SubjectVault(session, keyring)
        self.writer = LedgerWriter(session, keyring, context)

    async def record(
        self, external_id: str, request: ConsentRequest, evidence: Evidence, actor: str
    ) -> ConsentRecorded:
        """Append a grant or withdrawal for the subject, serialised by the subject's row lock."""
        facts = await repo.lock_for_write(
            self.session, external_id, request.purpose, request.channel
        )
        planned = await self.plan(facts, request, evidence, actor)
        stored, state = await repo.append(self.session, planned.pending)
        return self.recorded(planned, stored, state)

    async def plan(
        self, facts: WriteFacts | None, request: ConsentRequest, evidence: Evidence, actor: str
    ) -> PlannedWrite:
        """The write of ``request`` decided on ``facts`` (None: no such subject), its receipt
        signed; nothing is written. Refuses as the API does (``LupaError``)."""
        subject = require_live(facts.subject if facts else None)
        assert facts is not None  # require_live refused a missing subject
        purpose = facts.purpose
        if purpose is None:
            raise UnknownPurpose("There is no purpose with this key.", field="purpose")
        terms = PurposeTerms.of(purpose)
        now = datetime.now(UTC)
        age = self._age(subject, facts.key, terms, now) if request.action == "grant" else None
        current = facts.state.stored if facts.state else None
        decision = decide(request, terms, current, age, now)
        hashes = hash_evidence(self.keyring, evidence)
        new = NewEvent(
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
        )
        pending = await self.writer.prepare(subject, new, facts.key)
        return PlannedWrite(pending, terms, decision, facts.read_at)

    def recorded(
        self, planned: PlannedWrite, stored: StoredEvent, state: ConsentStateRow
    ) -> ConsentRecorded:
        """The answer to ``planned``, once written as ``stored`` and ``state``."""
        done = appended(planned.pending, stored, state)
        now = planned.pending.new.occurred_at
        url = (
            self._confirmation_url(planned.pending.subject_id, done.event, now)
            if planned.decision.needs_confirmation
            else None
        )
        return ConsentRecorded(
            done.event,
            ConsentState.read(done.state, planned.terms, now),
            done.receipt,
            planned.decision.notice,
            url,
        )

    def _age(
        self, subject: SubjectRow, key: WrappedKey | None, terms: PurposeTerms, now: datetime
    ) -> int | None:
        """Completed years, only when the purpose has a minimum age and a birth date is known."""
        if terms.min_age is None or subject.birth_date_ct is None:
            return None
        dek = self.vault.open_key(subject.id, key)
        birth = self.vault.open_field(dek, subject.id, "birth_date", subject.birth_date_ct)
        return age_on(date.fromisoformat(birth), now.date()) if birth else None

    def _confirmation_url(self, subject_id: uuid.UUID, event: LedgerEvent, now: datetime) -> str:
        token = sign_claims(
            self.keyring,
            {
                "sub": str(subject_id),
                "purpose": event.purpose_key,
                "channel": event.channel,
                "event": str(event.event_id),
                "iat": int(now.timestamp()),
                "exp": int((now + CONFIRM_TTL).timestamp()),
            },
            CONFIRM_LINK,
        )
        return f"{self.context.public_base_url}/v1/confirm/{token}"


class ConsentService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.context = context
        self.vault = SubjectVault(session, keyring)

    async def record(
        self, external_id: str, request: ConsentRequest, evidence: Evidence, actor: str
    ) -> ConsentRecorded:
        """Append a grant or withdrawal for the subject, serialised by the subject's row lock."""
        recorder = ConsentRecorder(self.session, self.keyring, self.context)
        return await recorder.record(external_id, request, evidence, actor)

    async def states(self, external_id: str) -> list[ConsentState]:
        subject = await live_subject(self.session, external_id)
        now = datetime.now(UTC)
        return [
            ConsentState.read(row, terms, now)
            for row, terms in await repo.states_for_subject(self.session, subject.id)
        ]

    async def history(
        self, external_id: str, *, reveal_reason: bool, after: int = 0, limit: int = 500
    ) -> list[HistoryEntry]:
        """Ledger rows in order; the withdrawal reason is opened only when ``reveal_reason``."""
        subject = await live_subject(self.session, external_id)
        rows = await repo.history(self.session, subject.id, after, limit)
        if not reveal_reason:
            return [HistoryEntry.of(row) for row in rows]
        dek = await self.vault.data_key(subject.id)
        return [
            HistoryEntry.of(
                row, self.vault.open_field(dek, subject.id, REASON_FIELD, row.reason_ct)
            )
            for row in rows
        ]
