"""The connector protocol at the consent service: one DSAR job in, one answer out.

The DSAR service sends every system the same job; this one always answers synchronously.
A job id seen before is the same job: its recorded answer is given again (an access job's
data is computed again, since no personal data is kept for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import connector_jobs as jobs
from services.consent.db import erasure as erasure_repo
from services.consent.db import subjects as subjects_repo
from services.consent.db.connector_jobs import FinishedJob
from services.consent.db.subjects import SubjectRow
from services.consent.domain.subjects import SubjectChanges, clean_email, clean_phone
from services.consent.service.erasure import SubjectRights
from services.consent.service.objection import object_to_marketing
from services.consent.service.receipts import LedgerContext
from services.consent.service.subject_access import SubjectAccess
from services.consent.service.subjects import SubjectService
from shared.audit.outbox import AuditEvent, record_event
from shared.crypto import keyed_hash
from shared.errors import Conflict, InvalidInput
from shared.keys import Keyring

SERVICE = "consent"
ACTOR = "connector"
ACTIONS = ("access", "erasure", "rectification", "restriction", "lift_restriction", "objection")


class ConnectorAnswer(msgspec.Struct, frozen=True, omit_defaults=True):
    """The synchronous answer of the connector protocol."""

    status: str  # done | not_found | exempt
    data: dict[str, Any] | None = None  # access only
    reason: str | None = None  # exempt only


@dataclass(frozen=True)
class Identity:
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ConnectorJob:
    """A verified job; ``changes`` already validated as a subject write would be."""

    job: str
    request: str
    action: str
    identity: Identity
    changes: SubjectChanges | None = None


class ConnectorService:
    def __init__(self, session: AsyncSession, keyring: Keyring, context: LedgerContext) -> None:
        self.session = session
        self.keyring = keyring
        self.rights = SubjectRights(session, keyring)
        self.context = context
        self.access = SubjectAccess(session, keyring, context)

    async def run(self, job: ConnectorJob) -> ConnectorAnswer:
        if job.action not in ACTIONS:
            raise InvalidInput("The action is not one of the connector protocol's.", field="action")
        await jobs.lock_job(self.session, job.job)
        previous = await jobs.get(self.session, job.job)
        if previous is not None:
            return await self._repeat(previous, job)
        rows = await self._find(job.identity)
        status = await self._apply(job, rows)
        data = (
            await self.access.collect(_live(rows))
            if status == "done" and job.action == "access"
            else None
        )
        await self._finish(job, status)
        return ConnectorAnswer(status, data)

    async def _repeat(self, previous: FinishedJob, job: ConnectorJob) -> ConnectorAnswer:
        if previous.action != job.action:
            raise Conflict("This job id was answered before for another action.")
        if previous.action == "access" and previous.status == "done":
            live = _live(await self._find(job.identity))
            if live:
                return ConnectorAnswer("done", await self.access.collect(live))
            return ConnectorAnswer("not_found")
        return ConnectorAnswer(previous.status, reason=previous.reason)

    async def _apply(self, job: ConnectorJob, rows: list[SubjectRow]) -> str:
        live = _live(rows)
        if job.action == "erasure":
            if not rows:
                return "not_found"
            for row in live:
                await self.rights.erase(row, _context(job))
            return "done"
        if not live:
            return "not_found"
        for row in live:
            await self._act(job, row)
        return "done"

    async def _act(self, job: ConnectorJob, row: SubjectRow) -> None:
        context = _context(job)
        if job.action == "rectification":
            if job.changes is None:
                raise InvalidInput("A rectification carries changes.", field="changes")
            await SubjectService(self.session, self.keyring).put(
                row.external_id, job.changes, ACTOR
            )
        elif job.action in ("restriction", "lift_restriction"):
            await self.rights.set_flag(row, "restricted_at", job.action == "restriction", context)
        elif job.action == "objection":
            await object_to_marketing(self.session, self.keyring, self.context, row, ACTOR)

    async def _find(self, identity: Identity) -> list[SubjectRow]:
        """The subjects the identity names, rows locked: by external id, else email, else phone.

        An erased subject is found by its external id only (its address is gone)."""
        if identity.external_id:
            row = await subjects_repo.get_by_external_id(
                self.session, identity.external_id, for_update=True
            )
            if row is not None:
                return [row]
        found: list[SubjectRow] = []
        index = _index(self.keyring, "email", identity.email)
        if index is not None:
            found = await subjects_repo.find_by_email_index(self.session, index)
        index = _index(self.keyring, "phone", identity.phone)
        if not found and index is not None:
            found = await erasure_repo.find_by_phone_index(self.session, index)
        locked = [await subjects_repo.get_by_id(self.session, r.id, for_update=True) for r in found]
        return [row for row in locked if row is not None]

    async def _finish(self, job: ConnectorJob, status: str) -> None:
        now = datetime.now(UTC)
        await jobs.insert_job(
            self.session, FinishedJob(job.job, job.request, job.action, status, None, now)
        )
        await record_event(
            self.session,
            AuditEvent(
                service=SERVICE,
                type="connector.job_answered",
                subject=job.request,
                data={
                    "job": job.job,
                    "request": job.request,
                    "action": job.action,
                    "status": status,
                },
            ),
        )


def _live(rows: list[SubjectRow]) -> list[SubjectRow]:
    return [row for row in rows if row.erased_at is None]


def _context(job: ConnectorJob) -> dict[str, str]:
    """What a subject's audit event says of the job behind it (ids only)."""
    return {"job": job.job, "request": job.request, "actor": ACTOR}


def _index(keyring: Keyring, field: str, value: str | None) -> bytes | None:
    """The blind index of an address as subjects store it; None for none or a malformed one
    (which can match no subject)."""
    if not value:
        return None
    try:
        normal = clean_email(value) if field == "email" else clean_phone(value)
    except InvalidInput:
        return None
    return keyed_hash(keyring.index_key, normal)
