"""``GET /metrics``: the Prometheus exposition, for a metrics token (or an admin's).

The database's gauges are read on every scrape, one short query per source, so every replica
reports the same truth; if PostgreSQL cannot answer, the process's own metrics are still
served and ``lupa_metrics_database_up`` says 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog
from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth.guards import requires_scraper
from shared.health import ENGINE_KEY
from shared.metrics.buffered import flush_all
from shared.metrics.exposition import exposition

# A source reads its gauges over one connection: (connection, service name) -> families.
MetricsSource = Callable[[AsyncConnection, str], Awaitable[list[Metric]]]
METRICS_SOURCES_KEY = "metrics_sources"
SCRAPE_STATEMENT_TIMEOUT_MS = 2_000
log = structlog.get_logger("lupa.metrics")


@get(
    "/metrics",
    guards=[requires_scraper()],
    tags=["metrics"],
    summary="Prometheus metrics of this service (a metrics token; see docs/metrics.md)",
    opt={"media_types": ("text/plain",), "database": False},
    cache_control=None,
)
async def metrics(state: State) -> Response[bytes]:
    settings = state["settings"]
    flush_all()  # this worker's own counts are exact; the others' at most a second old
    families = await database_families(
        state[ENGINE_KEY], state[METRICS_SOURCES_KEY], settings.service
    )
    return Response(
        exposition(families),
        media_type=CONTENT_TYPE_PLAIN_0_0_4,
        headers={"Cache-Control": "no-store"},
    )


async def database_families(
    engine: AsyncEngine, sources: Sequence[MetricsSource], service: str
) -> list[Metric]:
    """Every source's gauges, read in one read-only transaction, and whether that worked."""
    up = GaugeMetricFamily(
        "lupa_metrics_database_up",
        "1 if this scrape could read the database-derived gauges, else 0.",
    )
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            await conn.execute(text(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}"))
            families = [family for source in sources for family in await source(conn, service)]
    except Exception as exc:  # a scrape must still answer while PostgreSQL is away
        log.warning("metrics_database_unavailable", exc_type=type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [*families, up]
