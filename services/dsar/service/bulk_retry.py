"""``lupa jobs retry``: every failed connector job queued again, in committed batches.

Each batch locks its jobs, queues them and writes the same ``job.retry_requested`` event
(``by: bulk``) as ``POST /v1/jobs/retry``, in one transaction; so an interrupted run keeps the
batches it committed, and the next run finds those jobs no longer 'failed' and takes the rest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.db import jobs as job_db
from services.dsar.service.jobs import requeue_all
from shared.db.engine import session_scope
from shared.progress import ProgressFactory, quiet

BATCH = 500


@dataclass(frozen=True)
class BulkRetry:
    retried: int
    remaining: int  # still failed: held by another transaction during the pass


async def retry_failed_in_batches(
    factory: async_sessionmaker[AsyncSession],
    connector: str | None = None,
    *,
    batch_size: int = BATCH,
    progress: ProgressFactory = quiet,
) -> BulkRetry:
    async with session_scope(factory) as session:
        total = await job_db.count_failed(session, connector)
    retried, after = 0, cast(uuid.UUID | None, None)
    with progress("retrying failed jobs", total) as bar:
        while True:
            async with session_scope(factory) as session:
                jobs = await job_db.failed_jobs_after(session, connector, after, batch_size)
                await requeue_all(session, jobs)
            if not jobs:
                break
            after = jobs[-1].id
            retried += len(jobs)
            bar.advance(len(jobs))
    async with session_scope(factory) as session:
        # Jobs that failed again during this pass (a worker ran them) count as remaining too.
        remaining = await job_db.count_failed(session, connector)
    return BulkRetry(retried, remaining)
