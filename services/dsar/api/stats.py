"""``GET /v1/stats``: DSAR volumes and timeliness for the CX dashboard (counts only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.db import stats as repo
from shared.auth.guards import requires


class TypeStatusCount(msgspec.Struct, frozen=True):
    type: str
    status: str
    count: int


class DsarStats(msgspec.Struct, frozen=True):
    """Requests received in the last ``weeks`` weeks per type and status; the median days
    from receipt to completion of those completed in that time; open requests past due now."""

    weeks: int
    since: datetime
    requests: list[TypeStatusCount]
    completed: int
    median_days_to_complete: float | None
    overdue: int


class StatsController(Controller):
    path = "/v1/stats"
    tags = ["stats"]

    @get(
        guards=[requires("cx", "officer", "admin")],
        summary="Request volumes per type and status, median days to completion, overdue count",
    )
    async def get_stats(
        self,
        tx: NamedDependency[AsyncSession],
        weeks: Annotated[int, Parameter(ge=1, le=104, description="How far back")] = 12,
    ) -> DsarStats:
        now = datetime.now(UTC)
        since = now - timedelta(weeks=weeks)
        volumes = await repo.volumes(tx, since)
        timely = await repo.timeliness(tx, since, now)
        return DsarStats(
            weeks=weeks,
            since=since,
            requests=[TypeStatusCount(v.type, v.status, v.count) for v in volumes],
            completed=timely.completed,
            median_days_to_complete=timely.median_days,
            overdue=timely.overdue,
        )


__all__ = ["DsarStats", "StatsController"]
