"""Art. 21(2)-(3): an objection to direct marketing, received through the connector protocol.

Like a GPC signal (``gpc.py``), it is written to the ledger: every marketing purpose gets an
``object`` event (state ``objected``) on each channel not already objected, through the ledger
writer, so receipts and audit events follow as for any consent change. Checks then answer
``objected`` for those purposes, and a new grant given afterwards allows again (the person's
own later choice). Purposes of other categories are not touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import ledger as ledger_repo
from services.consent.db import purposes as purpose_repo
from services.consent.db.ledger import ConsentStateRow
from services.consent.db.subjects import SubjectRow
from services.consent.domain.consents import NewEvent
from services.consent.domain.purposes import Purpose
from services.consent.service.ledger import LedgerWriter
from services.consent.service.receipts import LedgerContext
from shared.keys import Keyring

SOURCE = "dsar"
# Kantara CR v1.1 purpose categories that are direct marketing.
MARKETING_CATEGORIES = frozenset({"Marketing", "Marketing Third Parties", "Sharing for Marketing"})


async def object_to_marketing(
    session: AsyncSession, keyring: Keyring, context: LedgerContext, subject: SubjectRow, actor: str
) -> list[str]:
    """Object for ``subject`` (row locked by the caller); the purpose keys newly objected to."""
    writer = LedgerWriter(session, keyring, context)
    objected: list[str] = []
    for purpose in await purpose_repo.list_all(session):
        if purpose.purpose_category not in MARKETING_CATEGORIES:
            continue
        for channel in purpose.channels:
            row = await ledger_repo.current_state(session, subject.id, purpose.key, channel)
            if row is not None and row.state == "objected":
                continue
            await writer.append(subject, _objection(purpose, channel, row, actor))
            if purpose.key not in objected:
                objected.append(purpose.key)
    return objected


def _objection(purpose: Purpose, channel: str, row: ConsentStateRow | None, actor: str) -> NewEvent:
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
    )
