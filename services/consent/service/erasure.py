"""Art. 17 and 18 on one subject: crypto-shredding and restriction.

Each change records its audit event in the caller's transaction; webhook subscribers receive
``subject.erased``, which is how recipients of the data are told (Art. 19).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import erasure as repo
from services.consent.db.subjects import SubjectRow
from services.consent.service.suppression import suppression_hash
from services.consent.service.vault import SubjectVault
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import Conflict
from shared.keys import Keyring

SERVICE = "consent"
FLAG_EVENTS = {
    ("restricted_at", True): "subject.restricted",
    ("restricted_at", False): "subject.restriction_lifted",
}


class SubjectRights:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.vault = SubjectVault(session, keyring)

    async def erase(self, row: SubjectRow, context: dict[str, str]) -> None:
        """Shred the subject (its row locked by the caller); an erased one stays as it is."""
        if row.erased_at is not None:
            return
        suppression = await self._suppression(row)
        await repo.shred(self.session, row.id, suppression, datetime.now(UTC))
        await self._event("subject.erased", row, context)

    async def set_flag(self, row: SubjectRow, flag: str, on: bool, context: dict[str, str]) -> None:
        """Set or clear ``restricted_at``; the audit event only when it changed."""
        now = datetime.now(UTC)
        if await repo.set_flag(self.session, row.id, flag, now if on else None, now):
            await self._event(FLAG_EVENTS[(flag, on)], row, context)

    async def _suppression(self, row: SubjectRow) -> dict[str, bytes | None]:
        """The keyed hashes of the subject's address and number, computed from the sealed
        values while the key still exists (rows written before c0002 may lack them)."""
        try:
            dek = await self.vault.data_key(row.id)
        except Conflict:  # the key is gone already: nothing left to hash
            return {"email": None, "phone": None}
        hashes: dict[str, bytes | None] = {}
        for field in ("email", "phone"):
            value = self.vault.open_field(dek, row.id, field, row.sealed(field))
            hashes[field] = suppression_hash(self.keyring, field, value) if value else None
        return hashes

    async def _event(self, type_: str, row: SubjectRow, context: dict[str, str]) -> None:
        await record_event(
            self.session,
            AuditEvent(service=SERVICE, type=type_, subject=str(row.id), data=dict(context)),
        )
