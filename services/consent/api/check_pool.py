"""The check path's own connection pool, opened with the app and closed on shutdown; with a
read replica configured, the standby's pool too and the guard that decides which one checks
read (``services/consent/service/check_replica.py``)."""

from __future__ import annotations

import asyncio
import contextlib
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
from services.consent.service.check_replica import ReplicaGuard
from shared.app_base import WRITE_TRANSACTIONS_KEY
from shared.settings import asyncpg_dsn

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
REPLICA_GUARD_KEY = "check_replica_guard"


def check_pool_lifespan(settings: CheckSettings) -> Lifespan:
    @asynccontextmanager
    async def check_pool(app: Litestar) -> AsyncGenerator[None, None]:
        pool = await create_check_pool(settings)
        replica = settings.replica
        replica_pool = (
            None if replica is None else await create_check_pool(settings, asyncpg_dsn(replica.url))
        )
        service = CheckService(pool, app.state["keyring"], settings, replica_pool)
        app.state[CHECK_POOL_KEY] = service
        guarding: asyncio.Task[None] | None = None
        if replica is not None:
            # The write connections (opened by the kernel's lifespan before this one) are what
            # the guard asks: it verifies the setting the writes really run with.
            guard = ReplicaGuard(service, app.state[WRITE_TRANSACTIONS_KEY], replica)
            app.state[REPLICA_GUARD_KEY] = guard
            guarding = asyncio.create_task(guard.run(), name="check-replica-guard")
        # Everything built at start-up (routes, schemas, SQLAlchemy metadata) lives as long as
        # the process: move it out of the collector's reach, so a full collection scans only
        # request garbage instead of stalling every in-flight check for tens of ms (the p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if guarding is not None:
                guarding.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await guarding
            await service.close()
            await pool.close()
            if replica_pool is not None:
                await replica_pool.close()

    return check_pool
