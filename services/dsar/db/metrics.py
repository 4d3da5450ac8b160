"""The DSAR service's gauges, read from PostgreSQL at every scrape: requests per status,
overdue requests, connector jobs per status and their retries. Counts only."""

from __future__ import annotations

from typing import get_args

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.dsar.db.stats import RUNNING
from services.dsar.domain.workflow import Status

REQUEST_STATUSES: tuple[str, ...] = get_args(Status)  # every status, so zeros are reported too
JOB_STATUSES = ("queued", "running", "waiting", "done", "not_found", "exempt", "failed", "skipped")
# One statement: counts per status over the status indexes, the overdue count over the inbox
# index, retries as attempts beyond each job's first.
_COUNTS = text(
    """
    SELECT 'request' AS kind, status, count(*) AS n FROM dsar_requests GROUP BY status
    UNION ALL
    SELECT 'job', status, count(*) FROM dsar_jobs GROUP BY status
    UNION ALL
    SELECT 'overdue', '', count(*) FROM dsar_requests
     WHERE status = ANY(:running) AND due_at < now()
    UNION ALL
    SELECT 'retries', '', coalesce(sum(greatest(attempts - 1, 0)), 0) FROM dsar_jobs
    """
)


async def dsar_families(conn: AsyncConnection, _service: str) -> list[Metric]:
    found = {
        (r.kind, r.status): int(r.n)
        for r in await conn.execute(_COUNTS, {"running": list(RUNNING)})
    }
    requests = GaugeMetricFamily(
        "lupa_dsar_requests", "Data-subject requests in each status.", labels=["status"]
    )
    for status in REQUEST_STATUSES:  # every status, zero too: a series that vanishes alerts no one
        requests.add_metric([status], found.get(("request", status), 0))
    overdue = GaugeMetricFamily(
        "lupa_dsar_requests_overdue",
        "Requests past their due date and still running (received or in progress).",
    )
    overdue.add_metric([], found.get(("overdue", ""), 0))
    jobs = GaugeMetricFamily("lupa_dsar_jobs", "Connector jobs in each status.", labels=["status"])
    for status in JOB_STATUSES:
        jobs.add_metric([status], found.get(("job", status), 0))
    retries = GaugeMetricFamily(
        "lupa_dsar_job_retries",
        "Attempts beyond the first, summed over every connector job on record.",
    )
    retries.add_metric([], found.get(("retries", ""), 0))
    return [requests, overdue, jobs, retries]
