"""Settling a request: once every connector job is final, the request is complete."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import jobs as job_db
from shared.audit.outbox import AuditEvent, record_event
from shared.keys import Keyring

_LOCK_REQUEST = text("SELECT status FROM dsar_requests WHERE id = :id FOR UPDATE")
_COMPLETE = text("""
    UPDATE dsar_requests
    SET status = 'completed', outcome = :outcome, completed_at = now(), updated_at = now()
    WHERE id = :id
""")


def outcome_of(statuses: list[str]) -> str:
    """``no_data_held`` when no system held anything, ``partly_exempt`` when any kept data
    under an exemption, else ``fulfilled``."""
    if all(status in ("not_found", "skipped") for status in statuses):
        return "no_data_held"
    if "exempt" in statuses:
        return "partly_exempt"
    return "fulfilled"


async def settle(session: AsyncSession, keyring: Keyring, request_id: uuid.UUID) -> bool:
    """Complete the request when all its jobs are final; True if it was completed now.

    The request row is locked first: two jobs finishing at once in two transactions then
    settle one after the other, and the second sees the first's job as final.
    """
    del keyring  # the package, mails and erasure receipt (integrator) will open the key
    row = (await session.execute(_LOCK_REQUEST, {"id": request_id})).first()
    if row is None or row.status != "in_progress":
        return False
    statuses = await job_db.statuses_of(session, request_id)
    if any(status not in job_db.FINAL_STATUSES for status in statuses):
        return False
    outcome = outcome_of(statuses)
    await session.execute(_COMPLETE, {"id": request_id, "outcome": outcome})
    await record_event(
        session,
        AuditEvent(
            service="dsar",
            type="request.completed",
            subject=str(request_id),
            data={"request": str(request_id), "outcome": outcome, "jobs": len(statuses)},
        ),
    )
    return True
