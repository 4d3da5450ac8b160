"""Use cases of running jobs: claim, what to send, record what the connector answered (or its
callback), lease expiry and release. Each runs in the caller's transaction, with its audit
events; none commits."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import jobs as job_db
from services.dsar.db.jobs import Job
from services.dsar.service.completion import settle
from services.dsar.service.connector_calls import (
    CallError,
    FinalAnswer,
    Identity,
    InvalidAnswer,
    JobCall,
    Outcome,
    Waiting,
    callback_url,
    parse_answer,
)
from services.dsar.service.connector_secrets import open_secret
from services.dsar.service.jobs import job_facts, record_job_event
from services.dsar.service.request_keys import RequestKeys, open_value, seal_value
from services.dsar.settings import ExecutionSettings
from shared.audit.webhooks import backoff_seconds
from shared.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shared.keys import Keyring
from shared.standard_webhooks import BadSignature, verify


async def claim_jobs(session: AsyncSession, worker: str, lease_s: float, limit: int) -> list[Job]:
    jobs = await job_db.claim(session, worker, lease_s, limit)
    for job in jobs:
        await record_job_event(
            session, "job.started", job.request_id, **job_facts(job), attempt=job.attempts
        )
    return jobs


async def requeue_expired_jobs(session: AsyncSession) -> list[Job]:
    """Bring back jobs whose worker stopped answering (crashed, killed, cut off)."""
    jobs = await job_db.requeue_expired(session)
    for job in jobs:
        await record_job_event(
            session, "job.lease_expired", job.request_id, **job_facts(job), attempt=job.attempts
        )
    return jobs


async def release_job(session: AsyncSession, job: Job) -> bool:
    """A stopping worker gives back a job it did not finish; False if it was no longer its."""
    if await job_db.release(session, job) is None:
        return False
    await record_job_event(
        session, "job.released", job.request_id, **job_facts(job), attempt=job.attempts
    )
    return True


async def prepare_call(
    session: AsyncSession, keyring: Keyring, job: Job, public_base_url: str
) -> tuple[str, str, JobCall]:
    """(connector url, its secret, what to send) for ``job``: the request's data opened."""
    target = await job_db.call_target(session, job.id)
    if target is None or target.wrapped_key is None or target.kek_id is None:
        raise Conflict("The job's request or its key is gone.")
    dek = RequestKeys(session, keyring).open_key(job.request_id, target.kek_id, target.wrapped_key)

    def opened(field: str, sealed: bytes | None) -> bytes | None:
        return None if sealed is None else open_value(dek, job.request_id, field, sealed)

    email = opened("email", target.email_ct)
    changes = opened("changes", target.changes_ct)
    call = JobCall(
        job_id=job.id,
        request_id=job.request_id,
        action=job.action,
        identity=Identity(target.subject, None if email is None else email.decode()),
        callback_url=callback_url(public_base_url, job.id),
        changes=None if changes is None else json.loads(changes),
    )
    secret = open_secret(keyring, job.connector, target.secret_kek_id, target.secret_ct)
    return target.url, secret, call


async def record_outcome(
    session: AsyncSession,
    keyring: Keyring,
    job: Job,
    outcome: Outcome,
    execution: ExecutionSettings,
    public_url: str,
) -> bool:
    """Write what one attempt of ``job`` (as claimed) came to; False (nothing written) when
    the attempt no longer holds the job (its lease ran out, an officer skipped it)."""
    if isinstance(outcome, FinalAnswer):
        return await _finish(session, keyring, job, outcome, public_url)
    if isinstance(outcome, Waiting):
        if not await job_db.mark_waiting(session, job):
            return False
        await record_job_event(session, "job.waiting", job.request_id, **_facts(job, "waiting"))
        return True
    return await _record_error(session, job, outcome, execution)


def _facts(job: Job, status: str) -> dict[str, object]:
    return {**job_facts(job), "attempt": job.attempts, "status": status}


async def _record_error(
    session: AsyncSession, job: Job, outcome: CallError, execution: ExecutionSettings
) -> bool:
    final = job.attempts >= execution.max_attempts
    delay = None
    if not final:
        delay = backoff_seconds(job.attempts, execution.backoff_base_s, execution.backoff_cap_s)
    if not await job_db.record_error(session, job, outcome.error, delay):
        return False
    facts = _facts(job, "failed" if final else "queued") | {"error": outcome.error}
    if final:
        await record_job_event(session, "job.failed", job.request_id, **facts)
    else:
        await record_job_event(
            session, "job.retry_scheduled", job.request_id, **facts, retry_in_s=delay
        )
    return True


async def _finish(
    session: AsyncSession, keyring: Keyring, job: Job, answer: FinalAnswer, public_url: str
) -> bool:
    sealed = None
    if answer.data is not None:
        dek = await RequestKeys(session, keyring).data_key(job.request_id)
        plain = json.dumps(answer.data, separators=(",", ":")).encode()
        sealed = seal_value(dek, job.request_id, f"job:{job.id}", plain)
    if not await job_db.finish(session, job, answer.status, answer.reason, sealed):
        return False
    # The exemption's ground is the connector's text: kept in the job row, not in the event.
    await record_job_event(session, "job.succeeded", job.request_id, **_facts(job, answer.status))
    await settle(session, keyring, job.request_id, public_url)
    return True


async def accept_callback(
    session: AsyncSession,
    keyring: Keyring,
    job_id: uuid.UUID,
    headers: dict[str, str],
    body: bytes,
    public_url: str,
) -> Job:
    """A waiting job's answer, POSTed by its connector and signed with its secret."""
    job = await job_db.lock_job(session, job_id)
    target = None if job is None else await job_db.call_target(session, job_id)
    if job is None or target is None:
        raise NotFound("There is no such job.")
    secret = open_secret(keyring, job.connector, target.secret_kek_id, target.secret_ct)
    try:
        verify(secret, headers, body)
    except BadSignature as exc:
        raise Unauthorized(f"The callback's signature does not verify: {exc}.") from None
    if job.status != "waiting":
        raise Conflict("This job is not waiting for a callback.", job_status=job.status)
    try:
        answer = parse_answer(body, job.action)
    except InvalidAnswer as exc:
        raise InvalidInput(f"The callback's body breaks the connector protocol: {exc}.") from None
    await _finish(session, keyring, job, answer, public_url)
    return Job(job.id, job.request_id, job.connector, job.action, answer.status, job.attempts)
