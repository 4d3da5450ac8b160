"""Use cases on the connector registry: register or replace, read, disable.

A connector's secret is sealed under the key-encryption key before it reaches the database and
is never handed back; audit events name the connector, its actions and its URL's host only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import connectors as repo
from services.dsar.db.connectors import ConnectorRow, SealedSecret
from services.dsar.domain.connectors import check_actions, check_url, url_host
from services.dsar.service.connector_secrets import seal_secret
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhooks import is_standard_secret
from shared.errors import InvalidInput, NotFound
from shared.keys import Keyring

SERVICE = "dsar"


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """What an admin registers: where the system listens, how jobs are signed, what it does."""

    url: str
    secret: str
    actions: tuple[str, ...]
    enabled: bool = True

    def validate(self) -> None:
        check_url(self.url)
        if not is_standard_secret(self.secret):
            raise InvalidInput(
                "The secret must be 'whsec_' followed by base64 of at least 24 random bytes.",
                field="secret",
            )
        check_actions(self.actions)


@dataclass(frozen=True, slots=True)
class ConnectorSaved:
    connector: ConnectorRow
    created: bool


class ConnectorService:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def put(self, name: str, spec: ConnectorSpec, actor: str) -> ConnectorSaved:
        """Register connector ``name``, or replace everything about it."""
        spec.validate()
        kek_id, sealed = seal_secret(self.keyring, name, spec.secret)
        row, created = await repo.upsert(
            self.session,
            name,
            spec.url,
            SealedSecret(kek_id, sealed),
            list(spec.actions),
            spec.enabled,
        )
        await self._event("connector.registered" if created else "connector.updated", row, actor)
        return ConnectorSaved(row, created)

    async def get(self, name: str) -> ConnectorRow:
        row = await repo.get(self.session, name)
        if row is None:
            raise NotFound("There is no connector with this name.")
        return row

    async def list_all(self) -> list[ConnectorRow]:
        return await repo.list_all(self.session)

    async def disable(self, name: str, actor: str) -> None:
        """Stop sending jobs to connector ``name``; its row stays, as its past jobs name it."""
        row = await repo.get_for_update(self.session, name)
        if row is None:
            raise NotFound("There is no connector with this name.")
        if not row.enabled:
            return  # already disabled: nothing changes, so nothing to record
        disabled = await repo.disable(self.session, name)
        assert disabled is not None  # the row is locked, so it is still there
        await self._event("connector.disabled", disabled, actor)

    async def _event(self, type_: str, row: ConnectorRow, actor: str) -> None:
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type=type_,
                subject=None,
                data={
                    "name": row.name,
                    "actions": list(row.actions),
                    "host": url_host(row.url),
                    "enabled": row.enabled,
                    "actor": actor,
                },
            ),
        )
