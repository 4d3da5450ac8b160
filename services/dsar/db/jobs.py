"""Queries of the durable job queue (``dsar_jobs``): enqueue, claim, lease expiry, outcomes.

Every function runs in the caller's session and transaction; none commits. A job's outcome is
written only while the attempt that produced it still holds the job (status ``running`` and
the same ``attempts``), so the answer of an attempt whose lease ran out cannot overwrite what
a later attempt or an officer decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, text
from sqlalchemy.ext.asyncio import AsyncSession

FINAL_STATUSES = ("done", "not_found", "exempt", "skipped")


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    request_id: uuid.UUID
    connector: str
    action: str
    status: str
    attempts: int
    last_error: str | None = None
    reason: str | None = None


_JOB_COLUMNS = "id, request_id, connector, action, status, attempts, last_error, reason"


def _job(row: Any) -> Job:
    return Job(*row)


def _one_row(result: Result[Any]) -> bool:
    """Whether a conditional UPDATE found its row (it still was in the state expected)."""
    return cast(CursorResult[Any], result).rowcount == 1


_ENQUEUE = text("""
    INSERT INTO dsar_jobs (id, request_id, connector, action, status, run_at)
    SELECT gen_random_uuid(), :request_id, name, :action, 'queued',
           COALESCE(CAST(:run_at AS timestamptz), now())
    FROM dsar_connectors WHERE enabled AND CAST(:action AS text) = ANY (actions)
    ORDER BY name
    ON CONFLICT (request_id, connector, action) DO NOTHING
    RETURNING id, connector
""")


async def insert_jobs(
    session: AsyncSession, request_id: uuid.UUID, action: str, run_at: datetime | None = None
) -> list[tuple[uuid.UUID, str]]:
    """(job id, connector) of each job added; connectors that already have one add nothing.
    ``run_at``: not before then (default: now)."""
    rows = await session.execute(
        _ENQUEUE, {"request_id": request_id, "action": action, "run_at": run_at}
    )
    return [(row.id, row.connector) for row in rows]


async def notify_workers(session: AsyncSession) -> None:
    """Wake listening workers when this transaction commits (PostgreSQL sends it then)."""
    await session.execute(text("SELECT pg_notify('dsar_jobs', '')"))


_CLAIM = text(f"""
    UPDATE dsar_jobs
    SET status = 'running', locked_until = now() + make_interval(secs => :lease),
        attempts = attempts + 1, worker = :worker, updated_at = now()
    WHERE id IN (
        SELECT id FROM dsar_jobs WHERE status = 'queued' AND run_at <= now()
        ORDER BY run_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING {_JOB_COLUMNS}
""")  # noqa: S608 (column names, no input)


async def claim(session: AsyncSession, worker: str, lease_s: float, limit: int) -> list[Job]:
    rows = await session.execute(_CLAIM, {"worker": worker, "lease": lease_s, "limit": limit})
    return [_job(row) for row in rows]


_REQUEUE_EXPIRED = text(f"""
    UPDATE dsar_jobs
    SET status = 'queued', locked_until = NULL, worker = NULL, run_at = now(), updated_at = now()
    WHERE id IN (
        SELECT id FROM dsar_jobs WHERE status = 'running' AND locked_until < now()
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING {_JOB_COLUMNS}
""")  # noqa: S608 (column names, no input)


async def requeue_expired(session: AsyncSession, limit: int = 500) -> list[Job]:
    """Jobs whose worker vanished (the lease ran out), queued to run again at once."""
    return [_job(row) for row in await session.execute(_REQUEUE_EXPIRED, {"limit": limit})]


_RELEASE = text(f"""
    UPDATE dsar_jobs
    SET status = 'queued', locked_until = NULL, worker = NULL, run_at = now(), updated_at = now()
    WHERE id = :id AND status = 'running' AND attempts = :attempts
    RETURNING {_JOB_COLUMNS}
""")  # noqa: S608 (column names, no input)


async def release(session: AsyncSession, job: Job) -> Job | None:
    """Give back a job a stopping worker did not finish (it runs again at once)."""
    row = (await session.execute(_RELEASE, {"id": job.id, "attempts": job.attempts})).first()
    return None if row is None else _job(row)


@dataclass(frozen=True)
class CallTarget:
    """What calling a job's connector takes: where, with which secret, about whom."""

    url: str
    secret_kek_id: str
    secret_ct: bytes
    subject: str | None
    kek_id: str | None
    wrapped_key: bytes | None
    email_ct: bytes | None
    changes_ct: bytes | None


_TARGET = text("""
    SELECT c.url, c.kek_id AS secret_kek_id, c.secret_ct, r.subject, r.kek_id, r.wrapped_key,
           r.email_ct, r.changes_ct
    FROM dsar_jobs j
    JOIN dsar_connectors c ON c.name = j.connector
    JOIN dsar_requests r ON r.id = j.request_id
    WHERE j.id = :id
""")


async def call_target(session: AsyncSession, job_id: uuid.UUID) -> CallTarget | None:
    row = (await session.execute(_TARGET, {"id": job_id})).first()
    return None if row is None else CallTarget(*row)


_LOCK = text(f"""
    SELECT {_JOB_COLUMNS} FROM dsar_jobs WHERE id = :id FOR UPDATE
""")  # noqa: S608 (column names, no input)


async def lock_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    row = (await session.execute(_LOCK, {"id": job_id})).first()
    return None if row is None else _job(row)


_LOCK_BY_NAME = text(f"""
    SELECT {_JOB_COLUMNS} FROM dsar_jobs
    WHERE request_id = :request_id AND connector = :connector
    ORDER BY action FOR UPDATE
""")  # noqa: S608 (column names, no input)


async def lock_jobs_of(session: AsyncSession, request_id: uuid.UUID, connector: str) -> list[Job]:
    """The request's jobs at one connector (one per action; usually just one)."""
    rows = await session.execute(_LOCK_BY_NAME, {"request_id": request_id, "connector": connector})
    return [_job(row) for row in rows]


_FINISH = text("""
    UPDATE dsar_jobs
    SET status = :status, reason = :reason, result_ct = :result_ct, last_error = NULL,
        locked_until = NULL, finished_at = now(), updated_at = now()
    WHERE id = :id AND status = :expected AND attempts = :attempts
""")


async def finish(
    session: AsyncSession,
    job: Job,
    status: str,
    reason: str | None = None,
    result_ct: bytes | None = None,
) -> bool:
    """Record a final answer for ``job`` as last read; False when the job moved on since."""
    params = {
        "id": job.id,
        "status": status,
        "reason": reason,
        "result_ct": result_ct,
        "expected": job.status,
        "attempts": job.attempts,
    }
    return _one_row(await session.execute(_FINISH, params))


_WAIT = text("""
    UPDATE dsar_jobs SET status = 'waiting', locked_until = NULL, last_error = NULL,
        updated_at = now()
    WHERE id = :id AND status = 'running' AND attempts = :attempts
""")


async def mark_waiting(session: AsyncSession, job: Job) -> bool:
    params = {"id": job.id, "attempts": job.attempts}
    return _one_row(await session.execute(_WAIT, params))


_ERROR = text("""
    UPDATE dsar_jobs
    SET status = :status, last_error = :error, locked_until = NULL, updated_at = now(),
        run_at = now() + make_interval(secs => :delay)
    WHERE id = :id AND status = 'running' AND attempts = :attempts
""")


async def record_error(
    session: AsyncSession, job: Job, error: str, retry_in_s: float | None
) -> bool:
    """Queue ``job`` again after ``retry_in_s`` seconds, or fail it for good when None."""
    params = {
        "id": job.id,
        "attempts": job.attempts,
        "error": error,
        "status": "failed" if retry_in_s is None else "queued",
        "delay": retry_in_s or 0.0,
    }
    return _one_row(await session.execute(_ERROR, params))


_REQUEUE = text("""
    UPDATE dsar_jobs SET status = 'queued', run_at = now(), updated_at = now()
    WHERE id = :id AND status = 'failed'
""")


async def requeue_failed(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """A failed job runs again now; its attempts and last error stay as they were."""
    return _one_row(await session.execute(_REQUEUE, {"id": job_id}))


_SKIP = text("""
    UPDATE dsar_jobs SET status = 'skipped', reason = :reason, locked_until = NULL,
        finished_at = now(), updated_at = now()
    WHERE id = :id
""")


async def mark_skipped(session: AsyncSession, job_id: uuid.UUID, reason: str) -> None:
    await session.execute(_SKIP, {"id": job_id, "reason": reason})


async def failed_jobs(
    session: AsyncSession, connector: str | None, request_ids: Sequence[uuid.UUID] | None
) -> list[Job]:
    """Failed jobs matching both filters (None: any), locked for this transaction."""
    rows = await session.execute(
        text(f"""
            SELECT {_JOB_COLUMNS} FROM dsar_jobs
            WHERE status = 'failed'
              AND (CAST(:connector AS text) IS NULL OR connector = :connector)
              AND (CAST(:ids AS uuid[]) IS NULL OR request_id = ANY (CAST(:ids AS uuid[])))
            ORDER BY created_at FOR UPDATE SKIP LOCKED
        """),  # noqa: S608 (column names, no input)
        {"connector": connector, "ids": None if request_ids is None else list(request_ids)},
    )
    return [_job(row) for row in rows]


async def failed_jobs_after(
    session: AsyncSession, connector: str | None, after: uuid.UUID | None, limit: int
) -> list[Job]:
    """The next ``limit`` failed jobs by id past ``after``, locked; jobs another transaction
    holds are skipped. Keyset by id, so a job that fails again later in the same pass is not
    picked twice."""
    rows = await session.execute(
        text(f"""
            SELECT {_JOB_COLUMNS} FROM dsar_jobs
            WHERE status = 'failed'
              AND (CAST(:connector AS text) IS NULL OR connector = :connector)
              AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))
            ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
        """),  # noqa: S608 (column names, no input)
        {"connector": connector, "after": after, "limit": limit},
    )
    return [_job(row) for row in rows]


async def count_failed(session: AsyncSession, connector: str | None) -> int:
    """How many jobs are failed (at ``connector``, or anywhere)."""
    count = await session.scalar(
        text("""
            SELECT count(*) FROM dsar_jobs WHERE status = 'failed'
              AND (CAST(:connector AS text) IS NULL OR connector = :connector)
        """),
        {"connector": connector},
    )
    return int(count or 0)


async def statuses_of(session: AsyncSession, request_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        text("SELECT status FROM dsar_jobs WHERE request_id = :id"), {"id": request_id}
    )
    return [row.status for row in rows]
