"""Global Privacy Control: ``Sec-GPC: 1`` on a portal write objects to selling and sharing.

GDPR Art. 21(5) lets an objection be made by automated means; GPC says "do not sell or share".
Each purpose marked ``sale_or_sharing`` gets an ``object`` ledger event (state ``objected``) on
every channel not already objected, through the ledger writer, so receipts and audit events
follow exactly as for any other consent change. Checks then answer ``objected``.

The first signal is also kept on the subject (``gpc_at``, with a ``subject.gpc_signal``
event): a purpose marked sale/sharing later, or a channel added to one, has no ledger row to
object with, and the check refuses it by that mark until a grant given after the signal.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as ledger_repo
from services.consent.db import purposes as purpose_repo
from services.consent.db import subjects as subject_repo
from services.consent.db.ledger import ConsentStateRow
from services.consent.domain.consents import NewEvent
from services.consent.domain.purposes import Purpose
from services.consent.service.evidence import Evidence, hash_evidence
from services.consent.service.ledger import LedgerWriter
from services.consent.service.receipts import LedgerContext
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring

SOURCE = "gpc"
SERVICE = "consent"


def gpc_requested(headers: Mapping[str, str], role: str) -> bool:
    """Only the person's own browser (the portal) speaks for them through GPC."""
    return role == "portal" and headers.get("sec-gpc", "").strip() == "1"


async def record_gpc_objection(
    session: AsyncSession,
    keyring: Keyring,
    context: LedgerContext,
    external_id: str,
    actor: str,
    evidence: Evidence,
) -> list[str]:
    """Object to every sale/sharing purpose; returns the purpose keys newly objected to."""
    subject = await subject_repo.get_by_external_id(session, external_id, for_update=True)
    if subject is None or subject.erased_at is not None:
        return []
    if subject.gpc_at is None:
        await _remember_signal(session, subject.id, actor)
    writer = LedgerWriter(session, keyring, context)
    objected: list[str] = []
    for purpose in await purpose_repo.list_sale_or_sharing(session):
        for channel in purpose.channels:
            row = await ledger_repo.current_state(session, subject.id, purpose.key, channel)
            if row is not None and row.state == "objected":
                continue
            await writer.append(
                subject, _objection(purpose, channel, row, actor, hash_evidence(keyring, evidence))
            )
            if purpose.key not in objected:
                objected.append(purpose.key)
    return objected


async def object_if_gpc(
    session: AsyncSession,
    keyring: Keyring,
    context: LedgerContext,
    headers: Mapping[str, str],
    role: str,
    external_id: str,
    actor: str,
    evidence: Evidence,
) -> None:
    """The one call a portal write makes: nothing unless the browser sent ``Sec-GPC: 1``."""
    if gpc_requested(headers, role):
        await record_gpc_objection(session, keyring, context, external_id, actor, evidence)


async def _remember_signal(session: AsyncSession, subject_id: uuid.UUID, actor: str) -> None:
    await subject_repo.mark_gpc_signal(session, subject_id, datetime.now(UTC))
    await record_event(
        session,
        AuditEvent(
            service=SERVICE,
            type="subject.gpc_signal",
            subject=str(subject_id),
            data={"actor": actor},
        ),
    )


def _objection(
    purpose: Purpose,
    channel: str,
    row: ConsentStateRow | None,
    actor: str,
    hashes: tuple[bytes | None, bytes | None],
) -> NewEvent:
    version = row.purpose_version if row is not None else purpose.current_version
    return NewEvent(
        purpose=purpose,
        version=version,
        channel=channel,
        action="object",
        state="objected",
        source=SOURCE,
        actor=actor,
        given_by="subject",
        collection_method="automatic",
        occurred_at=datetime.now(UTC),
        ip_hash=hashes[0],
        ua_hash=hashes[1],
    )
