"""Settling a request: once every connector job is final, the request is complete."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import jobs as job_db
from services.dsar.db import requests as requests_db
from services.dsar.domain.package import PACKAGE_TYPES
from services.dsar.service import notices
from services.dsar.service.downloads import DEFAULT_TTL_S, mint_download_link
from services.dsar.service.erasure_receipts import erasure_receipt_for
from services.dsar.service.packages import build_and_store
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


async def settle(
    session: AsyncSession, keyring: Keyring, request_id: uuid.UUID, public_url: str
) -> bool:
    """Complete the request when all its jobs are final, and give the requester the answer;
    True if it was completed now. ``public_url``: the DSAR service's public base URL, for
    download links and the receipt's issuer.

    The request row is locked first: two jobs finishing at once in two transactions then
    settle one after the other, and the second sees the first's job as final.
    """
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
    await answer_requester(session, keyring, request_id, public_url)
    return True


async def answer_requester(
    session: AsyncSession, keyring: Keyring, request_id: uuid.UUID, public_url: str
) -> None:
    """In the completing transaction: the access package and its single-use link, or the
    signed erasure receipt, or a plain notice — mailed in the requester's language. An erasure
    then forgets the requester: the address and every other sealed value of the request go,
    and what stays is what proves the request was honoured (its type, times, each system's
    answer and the receipt)."""
    row = await requests_db.get(session, request_id)
    if row is None:
        return
    if row.type in PACKAGE_TYPES:
        await build_and_store(session, keyring, request_id)
        link = await mint_download_link(session, keyring, request_id, base_url=public_url)
        expires = datetime.now(UTC) + timedelta(seconds=DEFAULT_TTL_S)
        await notices.tell(
            session,
            keyring,
            row,
            "package_ready",
            {"download_url": link + "?format=html", "expires_at": expires},
        )
        return
    if row.type == "erasure":
        receipt = await erasure_receipt_for(session, keyring, request_id, issuer=public_url)
        await requests_db.update(session, request_id, erasure_receipt=receipt)
        verify_url = public_url.rstrip("/") + "/.well-known/jwks.json"
        await notices.tell(
            session, keyring, row, "erasure_receipt", {"receipt": receipt, "verify_url": verify_url}
        )
        await requests_db.update(
            session,
            request_id,
            email_ct=None,
            email_index=None,
            changes_ct=None,
            question_ct=None,
            extension_reason_ct=None,
        )
        await record_event(
            session,
            AuditEvent(
                service="dsar",
                type="request.requester_forgotten",
                subject=str(request_id),
                data={"request": str(request_id)},
            ),
        )
        return
    await notices.tell(session, keyring, row, "request_completed", {})
