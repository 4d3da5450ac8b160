"""Use cases on the purpose catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import purposes as repo
from services.consent.domain.purposes import Purpose, PurposeSpec, PurposeVersion, plan_change
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import NotFound

SERVICE = "consent"


@dataclass(frozen=True, slots=True)
class PurposeSaved:
    purpose: Purpose
    created: bool


class PurposeService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, key: str, spec: PurposeSpec, actor: str) -> PurposeSaved:
        """Create the purpose, or update it (a changed text makes a new version)."""
        spec.validate()
        now = datetime.now(UTC)
        current = await repo.get(self.session, key, for_update=True)
        if current is None:
            # Creators of one purpose take turns; a later one finds the first one's purpose and
            # becomes an update of it.
            await repo.wait_for_creators(self.session, key)
            current = await repo.get(self.session, key, for_update=True)
        if current is None:
            await repo.insert_purpose(self.session, key, spec, now)
            await self._event("purpose.created", key, 1, actor, renewal=False)
            return PurposeSaved(await self.get(key), created=True)
        change = plan_change(current, spec)
        if not change.changed:
            return PurposeSaved(current, created=False)
        version = current.current_version + (1 if change.new_version else 0)
        if change.new_version:
            await repo.insert_version(self.session, key, version, spec, now)
        await repo.update_purpose(
            self.session, key, spec, version, change.min_accepted_version, now
        )
        await self._event(
            "purpose.versioned" if change.new_version else "purpose.updated",
            key,
            version,
            actor,
            renewal=change.new_version and spec.require_renewal,
        )
        return PurposeSaved(await self.get(key), created=False)

    async def get(self, key: str) -> Purpose:
        purpose = await repo.get(self.session, key)
        if purpose is None:
            raise NotFound("There is no purpose with this key.")
        return purpose

    async def list_all(self) -> list[Purpose]:
        return await repo.list_all(self.session)

    async def versions(self, key: str) -> list[PurposeVersion]:
        await self.get(key)
        return await repo.versions(self.session, key)

    async def _event(self, type_: str, key: str, version: int, actor: str, renewal: bool) -> None:
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=type_,
                subject=None,
                data={
                    "purpose": key,
                    "version": version,
                    "requires_renewal": renewal,
                    "actor": actor,
                },
            ),
        )
