"""The record of connector jobs answered, so a repeated job id is answered as the same job."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db.tables import connector_jobs


class FinishedJob(msgspec.Struct, frozen=True):
    """A job as it was answered: no personal data, only what was done."""

    job: str
    request: str
    action: str
    status: str
    reason: str | None
    finished_at: datetime


async def lock_job(session: AsyncSession, job: str) -> None:
    """Queue behind any other transaction answering ``job``: a repeat that arrives while the
    first delivery is still running waits for it, then finds its record."""
    lock = func.pg_advisory_xact_lock(
        func.hashtext("lupa.consent.connector_job"), func.hashtext(job)
    )
    await session.execute(select(lock))


async def get(session: AsyncSession, job: str) -> FinishedJob | None:
    query = select(*(connector_jobs.c[name] for name in FinishedJob.__struct_fields__)).where(
        connector_jobs.c.job == job
    )
    row = (await session.execute(query)).first()
    return FinishedJob(*row) if row else None


async def insert_job(session: AsyncSession, finished: FinishedJob) -> None:
    await session.execute(insert(connector_jobs).values(msgspec.structs.asdict(finished)))
