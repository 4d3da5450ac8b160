"""Two workers on one database share the queue: every job runs, none is called twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import text

from tests.integration.dsar.jobs.connector import Connector

JOBS = 50


async def test_two_workers_drain_fifty_jobs_each_called_once(scene):
    async with Connector(delay_s=0.01) as conn:
        await scene.connector(conn.url, actions=("erasure",))
        rids = [await scene.request("erasure") for _ in range(JOBS)]
        async with scene.worker(name="w1"), scene.worker(name="w2"):

            async def drained():
                async with scene.sessions() as s:
                    left = await s.scalar(
                        text("SELECT count(*) FROM dsar_requests WHERE status <> 'completed'")
                    )
                return left == 0

            await scene.until(drained, timeout_s=30)
    calls = Counter(seen.job["job"] for seen in conn.seen)
    assert len(calls) == JOBS and set(calls.values()) == {1}
    async with scene.sessions() as s:
        rows = (await s.execute(text("SELECT worker, attempts FROM dsar_jobs"))).all()
    assert {row.attempts for row in rows} == {1}
    assert {row.worker for row in rows} == {"w1", "w2"}  # both took a share
    assert len(rids) == JOBS


async def test_an_idle_worker_wakes_on_the_approvals_notification_not_its_poll(scene):
    from services.dsar.settings import ExecutionSettings
    from tests.integration.dsar.jobs.conftest import FAST

    sleepy = ExecutionSettings(**{**FAST.__dict__, "poll_s": 300})  # the poll never comes
    async with Connector() as conn:
        await scene.connector(conn.url, actions=("erasure",))
        async with scene.worker(sleepy):
            await asyncio.sleep(0.2)  # let it claim nothing and go idle
            rid = await scene.request("erasure")

            async def completed():
                return (await scene.request_row(rid)).status == "completed"

            await scene.until(completed, timeout_s=20)
