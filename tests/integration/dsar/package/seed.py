"""A completed DSAR request in the real database, with its jobs' answers sealed as the
workers seal them (``job:<id>`` under the request's key)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.service.request_keys import RequestKeys, seal_value
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring

# (connector, status, reason, data)
Job = tuple[str, str, str | None, dict[str, Any] | None]


async def _ensure_connector(session: AsyncSession, name: str) -> None:
    await session.execute(
        text(
            "INSERT INTO dsar_connectors (name, url, kek_id, secret_ct, actions)"
            " VALUES (:name, 'http://127.0.0.1:9/connector', 'test', '\\x00',"
            " ARRAY['access', 'erasure']) ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name},
    )


async def seed_request(
    factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    jobs: Sequence[Job],
    *,
    type_: str = "access",
    status: str = "completed",
    locale: str = "fi",
) -> uuid.UUID:
    request_id = uuid.uuid4()
    received = datetime.now(UTC) - timedelta(days=3)
    async with factory() as session, session.begin():
        dek, kek_id, wrapped = RequestKeys(session, keyring).new_key(request_id)
        await session.execute(
            text(
                "INSERT INTO dsar_requests (id, type, status, origin, locale, kek_id,"
                " wrapped_key, verified_at, verified_by, received_at, due_at, completed_at)"
                " VALUES (:id, :type, :status, 'officer', :locale, :kek, :wrapped, :received,"
                " 'officer', :received, :due, :completed)"
            ),
            {
                "id": request_id,
                "type": type_,
                "status": status,
                "locale": locale,
                "kek": kek_id,
                "wrapped": wrapped,
                "received": received,
                "due": received + timedelta(days=30),
                "completed": datetime.now(UTC) if status == "completed" else None,
            },
        )
        action = "erasure" if type_ == "erasure" else "access"
        for connector, job_status, reason, data in jobs:
            await _ensure_connector(session, connector)
            job_id = uuid.uuid4()
            sealed = (
                None
                if data is None
                else seal_value(dek, request_id, f"job:{job_id}", json.dumps(data).encode())
            )
            await session.execute(
                text(
                    "INSERT INTO dsar_jobs (id, request_id, connector, action, status, reason,"
                    " result_ct) VALUES (:id, :request, :connector, :action, :status, :reason,"
                    " :sealed)"
                ),
                {
                    "id": job_id,
                    "request": request_id,
                    "connector": connector,
                    "action": action,
                    "status": job_status,
                    "reason": reason,
                    "sealed": sealed,
                },
            )
        await record_event(
            session,
            AuditEvent(service="dsar", type="test.seeded", subject=str(request_id), data={}),
        )
    return request_id


async def events_of(
    factory: async_sessionmaker[AsyncSession], request_id: uuid.UUID, type_: str
) -> list[dict[str, Any]]:
    """The data of the request's audit events of one type, oldest first."""
    async with factory() as session:
        rows = await session.execute(
            text(
                "SELECT data FROM audit_events WHERE subject = :subject AND type = :type"
                " ORDER BY time"
            ),
            {"subject": str(request_id), "type": f"fi.lupa.dsar.{type_}"},
        )
        return [row.data for row in rows]
