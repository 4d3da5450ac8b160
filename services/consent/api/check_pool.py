"""The check path's own connection pool, opened with the app and closed on shutdown."""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from services.consent.service.check import (
    CHECK_POOL_KEY,
    CheckService,
    CheckSettings,
    create_check_pool,
)

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


def check_pool_lifespan(settings: CheckSettings) -> Lifespan:
    @asynccontextmanager
    async def check_pool(app: Litestar) -> AsyncGenerator[None, None]:
        pool = await create_check_pool(settings)
        app.state[CHECK_POOL_KEY] = CheckService(pool, app.state["keyring"], settings)
        # Everything built at start-up (routes, schemas, SQLAlchemy metadata) lives as long as
        # the process: move it out of the collector's reach, so a full collection scans only
        # request garbage instead of stalling every in-flight check for tens of ms (the p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state[CHECK_POOL_KEY].conns.close()
            await pool.close()

    return check_pool
