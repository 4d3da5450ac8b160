"""Counts over DSAR requests for the CX dashboard: volumes per type and status, the median
time to completion and how many open requests are past their due date. Counts only: no
personal data leaves these queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# A request still running against its deadline (the clock stops while awaiting the requester,
# so those are never overdue: their due date moves when they resume).
RUNNING = ("received", "in_progress")


@dataclass(frozen=True)
class Volume:
    type: str
    status: str
    count: int


@dataclass(frozen=True)
class Timeliness:
    completed: int
    median_days: float | None  # received to completed, among requests completed since
    overdue: int


async def volumes(session: AsyncSession, since: datetime) -> list[Volume]:
    rows = await session.execute(
        text(
            "SELECT type, status, count(*) AS n FROM dsar_requests"
            " WHERE received_at >= :since GROUP BY type, status ORDER BY type, status"
        ),
        {"since": since},
    )
    return [Volume(r.type, r.status, int(r.n)) for r in rows]


async def timeliness(session: AsyncSession, since: datetime, now: datetime) -> Timeliness:
    done = (
        await session.execute(
            text(
                "SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY"
                " extract(epoch FROM completed_at - received_at) / 86400) AS median"
                " FROM dsar_requests WHERE completed_at IS NOT NULL AND completed_at >= :since"
            ),
            {"since": since},
        )
    ).one()
    overdue = (
        await session.execute(
            text(
                "SELECT count(*) FROM dsar_requests WHERE status = ANY(:running) AND due_at < :now"
            ),
            {"running": list(RUNNING), "now": now},
        )
    ).scalar_one()
    median = None if done.median is None else round(float(done.median), 1)
    return Timeliness(int(done.n), median, int(overdue))
