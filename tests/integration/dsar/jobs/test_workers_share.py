"""Two workers on one database share the queue: every job runs, none is called twice."""

from __future__ import annotations

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
