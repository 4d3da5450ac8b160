"""``lupa worker`` killed (SIGKILL) in the middle of 200 connector calls: a second worker
finishes everything. Jobs the dead worker held come back when their lease runs out; the
connector sees every job, and a job twice only under the same job id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.keys import save_keyring
from tests.integration.dsar.jobs.connector import Connector

pytestmark = pytest.mark.slow
JOBS = 200
KILL_AFTER = 60
CONCURRENCY = 4


def _worker(url: str, keys_file: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYS_FILE": str(keys_file),
        "LUPA_LOG_LEVEL": "ERROR",
        "LUPA_DSAR_JOB_LEASE_S": "2",  # short, so the dead worker's jobs return soon
        "LUPA_DSAR_JOB_TIMEOUT_S": "1",
        "LUPA_DSAR_JOB_POLL_S": "0.2",
        "LUPA_DSAR_JOB_CONCURRENCY": str(CONCURRENCY),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lupa", "worker", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _unfinished(scene) -> int:
    async with scene.sessions() as s:
        return await s.scalar(  # type: ignore[no-any-return]
            text("SELECT count(*) FROM dsar_requests WHERE status <> 'completed'")
        )


async def test_a_killed_worker_loses_no_job_and_repeats_only_under_the_same_id(
    scene, jobs_url, tmp_path
):
    keys_file = tmp_path / "keyring.json"
    save_keyring(keys_file, scene.keyring)
    async with Connector(delay_s=0.02) as conn:
        await scene.connector(conn.url, actions=("erasure",))
        for _ in range(JOBS):
            await scene.request("erasure")
        first = _worker(jobs_url, keys_file, "doomed")
        second = None
        try:
            for _ in range(600):  # bounded: until the first worker is mid-way
                if len(conn.seen) >= KILL_AFTER or first.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert first.poll() is None, "the worker exited on its own"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert len(conn.seen) < JOBS, "the kill came too late"
            second = _worker(jobs_url, keys_file, "survivor")

            async def finished():
                return await _unfinished(scene) == 0

            await scene.until(finished, timeout_s=60)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0  # SIGTERM stops it cleanly
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=20)
    calls = Counter(seen.job["job"] for seen in conn.seen)
    assert all(seen.headers["webhook-id"] == seen.job["job"] for seen in conn.seen)
    async with scene.sessions() as s:
        rows = (await s.execute(text("SELECT id, status, worker FROM dsar_jobs"))).all()
    assert len(rows) == JOBS and {row.status for row in rows} == {"done"}
    assert set(calls) == {str(row.id) for row in rows}  # the connector saw every job
    repeated = [job for job, n in calls.items() if n > 1]
    assert len(repeated) <= CONCURRENCY  # only calls in flight at the kill ran again
    assert {row.worker for row in rows} == {"doomed", "survivor"}
