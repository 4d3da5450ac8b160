"""Use cases of the job queue that people and approval start: enqueue the jobs of an approved
request, retry a failed job, skip a job, retry failed jobs in bulk. None commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import jobs as job_db
from services.dsar.db.jobs import Job
from services.dsar.service.completion import settle
from shared.audit.outbox import AuditEvent, record_event
from shared.errors import Conflict, NotFound
from shared.keys import Keyring

# The connector action each request type runs (portability is an access in a machine format).
ACTION_OF_TYPE = {
    "access": "access",
    "portability": "access",
    "rectification": "rectification",
    "erasure": "erasure",
    "restriction": "restriction",
    "objection": "objection",
}


async def record_job_event(
    session: AsyncSession, type_: str, request_id: uuid.UUID, **data: Any
) -> None:
    await record_event(
        session,
        AuditEvent(
            service="dsar",
            type=type_,
            subject=str(request_id),
            data={"request": str(request_id), **data},
        ),
    )


def job_facts(job: Job) -> dict[str, Any]:
    """What an audit event says about a job: never the connector's data."""
    return {"job": str(job.id), "connector": job.connector, "action": job.action}


async def enqueue_for_request(
    session: AsyncSession, request_id: uuid.UUID, action: str, run_at: datetime | None = None
) -> list[uuid.UUID]:
    """One queued job per enabled connector that does ``action``; the ids of those added.

    Idempotent: a second call adds nothing (and records nothing). Workers are woken when the
    caller's transaction commits.
    """
    added = await job_db.insert_jobs(session, request_id, action, run_at)
    if not added:
        return []
    await record_job_event(
        session,
        "jobs.enqueued",
        request_id,
        action=action,
        connectors=[name for _, name in added],
        jobs=[str(job_id) for job_id, _ in added],
    )
    await job_db.notify_workers(session)
    return [job_id for job_id, _ in added]


async def _jobs_of(session: AsyncSession, request_id: uuid.UUID, connector: str) -> list[Job]:
    jobs = await job_db.lock_jobs_of(session, request_id, connector)
    if not jobs:
        raise NotFound("This request has no job at that connector.")
    return jobs


async def retry_job(session: AsyncSession, request_id: uuid.UUID, connector: str) -> list[Job]:
    """Run the failed job(s) of a request at a connector again now (attempts are kept)."""
    jobs = await _jobs_of(session, request_id, connector)
    failed = [job for job in jobs if job.status == "failed"]
    if not failed:
        raise Conflict("Only a failed job can be retried.", job_status=jobs[0].status)
    for job in failed:
        await _requeue(session, job, "officer")
    await job_db.notify_workers(session)
    return await job_db.lock_jobs_of(session, request_id, connector)


async def _requeue(session: AsyncSession, job: Job, by: str) -> None:
    await job_db.requeue_failed(session, job.id)
    await record_job_event(
        session,
        "job.retry_requested",
        job.request_id,
        **job_facts(job),
        attempt=job.attempts,
        by=by,
    )


async def skip_job(
    session: AsyncSession,
    keyring: Keyring,
    request_id: uuid.UUID,
    connector: str,
    reason: str,
    public_url: str,
) -> list[Job]:
    """Give up on a connector for this request (the officer's reason is kept); the request
    completes if that was the last open job."""
    jobs = await _jobs_of(session, request_id, connector)
    open_jobs = [job for job in jobs if job.status not in job_db.FINAL_STATUSES]
    if not open_jobs:
        raise Conflict("This job has already ended.", job_status=jobs[0].status)
    for job in open_jobs:
        await job_db.mark_skipped(session, job.id, reason)
        # The reason is the officer's free text: it stays in the job row, not in the event.
        await record_job_event(
            session, "job.skipped", request_id, **job_facts(job), previous=job.status
        )
    await settle(session, keyring, request_id, public_url)
    return await job_db.lock_jobs_of(session, request_id, connector)


async def retry_failed(
    session: AsyncSession,
    connector: str | None = None,
    request_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Retry every failed job matching the filters; how many were queued again."""
    jobs = await job_db.failed_jobs(session, connector, request_ids)
    await requeue_all(session, jobs)
    return len(jobs)


async def requeue_all(session: AsyncSession, jobs: Sequence[Job]) -> None:
    """Queue failed ``jobs`` (locked by the caller) again, each with the bulk retry's event."""
    for job in jobs:
        await _requeue(session, job, "bulk")
    if jobs:
        await job_db.notify_workers(session)
