"""Recording expiry in the ledger: reads already treat a lapsed grant as expired; this job only
writes the ``expire`` events so the history shows when each consent ran out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.consent.db import ledger as repo
from services.consent.db import purposes as purpose_repo
from services.consent.db.ledger import ExpiryCandidate
from services.consent.domain.consents import NewEvent, PurposeTerms, expiry_due
from services.consent.domain.validity import expires_at
from services.consent.service.ledger import LedgerWriter
from services.consent.service.receipts import LedgerContext
from shared.db.engine import session_scope
from shared.keys import Keyring
from shared.progress import ProgressFactory, quiet

EXPIRY_ACTOR = "system:expiry"
BATCH = 200
RESUME = "run it again to continue (what was recorded stays, nothing is recorded twice)"


async def expire_one(
    session: AsyncSession,
    keyring: Keyring,
    context: LedgerContext,
    candidate: ExpiryCandidate,
    now: datetime,
) -> bool:
    """Append an expire event if the candidate is still the same lapsed grant under the lock."""
    subject = await repo.lock_subject(session, candidate.subject_id)
    if subject is None or subject.erased_at is not None:
        return False
    state = await repo.current_state(session, subject.id, candidate.purpose_key, candidate.channel)
    purpose = await purpose_repo.get(session, candidate.purpose_key)
    if state is None or purpose is None or state.last_event_id != candidate.last_event_id:
        return False  # changed since it was listed: someone else wrote a newer event
    terms = PurposeTerms.of(purpose)
    stored = state.stored
    if not expiry_due(stored, terms, now):
        return False
    assert terms.validity_days is not None and stored.granted_at is not None
    await LedgerWriter(session, keyring, context).append(
        subject,
        NewEvent(
            purpose=purpose,
            version=stored.purpose_version,
            channel=candidate.channel,
            action="expire",
            state="expired",
            source="system",
            actor=EXPIRY_ACTOR,
            given_by="subject",
            collection_method="automatic",
            occurred_at=expires_at(stored.granted_at, terms.validity_days),
        ),
    )
    return True


async def expire_due(
    factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    context: LedgerContext,
    *,
    now: datetime | None = None,
    purpose_key: str | None = None,
    batch_size: int = BATCH,
    progress: ProgressFactory = quiet,
) -> int:
    """Record every lapsed grant; returns how many were recorded.

    Candidates are listed ``batch_size`` at a time; each is recorded in its own short
    transaction that re-checks it under the subject's lock, so an interrupted run keeps what it
    recorded, and a re-run (or a concurrent one) finds those grants no longer 'granted'.
    """
    now = now or datetime.now(UTC)
    recorded, cursor = 0, 0
    async with session_scope(factory) as session:
        total = await repo.count_granted_past_validity(session, now, purpose_key)
    with progress("recording expiry", total, resume=RESUME) as bar:
        while True:
            async with session_scope(factory) as session:
                batch = await repo.granted_past_validity(
                    session, now, batch_size, cursor, purpose_key
                )
            if not batch:
                return recorded
            for candidate in batch:
                async with session_scope(factory) as session:
                    recorded += await expire_one(session, keyring, context, candidate, now)
                bar.advance()
            cursor = batch[-1].last_event_id
