"""The DSAR service's keys for key rotation (``lupa keys``): each request's data key in
``dsar_requests`` and each connector's signing secret in ``dsar_connectors``, both under a KEK.

A retired KEK under either would break the service: a request's personal data could no longer
be opened, and the worker could no longer sign jobs to a connector.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db.connectors import connectors
from services.dsar.service.connector_secrets import reseal_secret
from services.dsar.settings import SERVICE
from shared.key_rotation import SealedValue, WrappedKey
from shared.keys import Keyring


class RequestDataKeys:
    """Each request's data key, wrapped with the request id as associated data; a shredded
    request has none (``kek_id`` and ``wrapped_key`` are both null) and is not counted."""

    service = SERVICE

    async def count_by_kek(self, session: AsyncSession) -> dict[str, int]:
        rows = await session.execute(
            text(
                "SELECT kek_id, count(*) FROM dsar_requests WHERE kek_id IS NOT NULL "
                "GROUP BY kek_id"
            )
        )
        return {kek_id: n for kek_id, n in rows.all()}

    async def lock_batch(
        self, session: AsyncSession, kek_ids: Sequence[str], after: uuid.UUID | None, limit: int
    ) -> list[WrappedKey]:
        past = "" if after is None else "AND id > :after "
        rows = await session.execute(
            text(
                "SELECT id, kek_id, wrapped_key FROM dsar_requests "  # noqa: S608 (constants)
                f"WHERE kek_id = ANY(:keks) {past}ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
            ),
            {"keks": list(kek_ids), "after": after, "limit": limit},
        )
        return [WrappedKey(owner, kek_id, wrapped) for owner, kek_id, wrapped in rows.all()]

    async def store_rewrapped(
        self, session: AsyncSession, keys: list[WrappedKey], now: datetime
    ) -> None:
        # ``now`` is unused: dsar_requests keeps no rewrap time (updated_at is the request's own).
        await session.execute(
            text("UPDATE dsar_requests SET kek_id = :kek, wrapped_key = :wrapped WHERE id = :id"),
            [{"id": k.owner, "kek": k.kek_id, "wrapped": k.wrapped} for k in keys],
        )


class ConnectorSecrets:
    """Each connector's Standard Webhooks secret, sealed with its name as associated data
    (``connector_secrets``), so a resealed secret still opens for the same connector only."""

    service = SERVICE
    kind = "connector_secrets"

    async def count_by_kek(self, session: AsyncSession) -> dict[str, int]:
        query = select(connectors.c.kek_id, func.count()).group_by(connectors.c.kek_id)
        return {kek_id: n for kek_id, n in (await session.execute(query)).all()}

    async def lock_batch(
        self, session: AsyncSession, kek_ids: Sequence[str], after: str | None, limit: int
    ) -> list[SealedValue]:
        query = (
            select(connectors.c.name, connectors.c.kek_id, connectors.c.secret_ct)
            .where(connectors.c.kek_id.in_(list(kek_ids)))
            .order_by(connectors.c.name)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if after is not None:
            query = query.where(connectors.c.name > after)
        rows = (await session.execute(query)).all()
        return [SealedValue(name, kek_id, sealed) for name, kek_id, sealed in rows]

    def reseal(self, keyring: Keyring, value: SealedValue) -> SealedValue:
        return SealedValue(
            value.name, *reseal_secret(keyring, value.name, value.kek_id, value.sealed)
        )

    async def store_resealed(self, session: AsyncSession, values: list[SealedValue]) -> None:
        # updated_at stays: it is when an admin last changed the connector, not its key.
        statement = (
            update(connectors)
            .where(connectors.c.name == bindparam("n"))
            .values(kek_id=bindparam("kek"), secret_ct=bindparam("sealed"))
        )
        rows = [{"n": v.name, "kek": v.kek_id, "sealed": v.sealed} for v in values]
        await session.execute(statement, rows)
