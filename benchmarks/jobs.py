"""Jobs/s through enqueue + claim + finish: Lupa's ``dsar_jobs`` table against pgqueuer, on
the same database in the same run.

    python -m benchmarks.jobs [--quick] [--jobs N]

Both queues do the same work: N jobs enqueued one transaction each (as one approval each),
claimed in batches of ``BATCH`` by ``WORKERS`` concurrent claimers, and marked finished. Ours
runs the exact statements of ``services/dsar/db/jobs.py`` through SQLAlchemy sessions (without
the audit events, which pgqueuer would not write either) and finishes each job in its own
transaction, as the worker does; pgqueuer uses its own ``Queries`` (enqueue, dequeue,
log_jobs per batch). Uses ``DATABASE_URL`` (or the embedded PostgreSQL), in a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lupa.database import upgrade
from services.dsar.db import jobs as job_db
from shared.db.engine import create_engine, create_session_factory
from shared.db.location import database_url
from shared.settings import DatabaseSettings, asyncpg_dsn, sqlalchemy_url

BATCH = 50
WORKERS = 4


def _rates(count: int, started: float, enqueued: float, ended: float) -> Rates:
    return count / (enqueued - started), count / (ended - enqueued), count / (ended - started)


async def _requests(sessions: async_sessionmaker[AsyncSession], count: int) -> list[uuid.UUID]:
    """Untimed set-up: one connector and ``count`` requests for the jobs to point at."""
    ids = [uuid.uuid4() for _ in range(count)]
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO dsar_connectors (name, url, kek_id, secret_ct, actions) "
                "VALUES ('bench', 'http://127.0.0.1:9/', 'k', '\\x00', ARRAY['erasure'])"
            )
        )
        await s.execute(
            text("""
                INSERT INTO dsar_requests (id, type, status, origin, received_at, due_at,
                    verified_at)
                SELECT id, 'erasure', 'in_progress', 'officer', :now, :due, :now
                FROM unnest(CAST(:ids AS uuid[])) AS id
            """),
            {"ids": ids, "now": now, "due": now + timedelta(days=30)},
        )
    return ids


Rates = tuple[float, float, float]  # enqueue jobs/s, claim+finish jobs/s, whole jobs/s


async def ours(dsn: str, count: int) -> Rates:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(dsn), pool_size=WORKERS + 2))
    sessions = create_session_factory(engine)
    try:
        ids = await _requests(sessions, count)
        started = time.perf_counter()
        for rid in ids:
            async with sessions() as s, s.begin():
                await job_db.insert_jobs(s, rid, "erasure")
                await job_db.notify_workers(s)
        enqueued = time.perf_counter()

        async def worker(name: str) -> None:
            while True:
                async with sessions() as s, s.begin():
                    claimed = await job_db.claim(s, name, 60, BATCH)
                if not claimed:
                    return
                for job in claimed:
                    async with sessions() as s, s.begin():
                        await job_db.finish(s, job, "done")

        await asyncio.gather(*(worker(f"w{i}") for i in range(WORKERS)))
        ended = time.perf_counter()
        async with sessions() as s:
            done = await s.scalar(text("SELECT count(*) FROM dsar_jobs WHERE status = 'done'"))
        assert done == count, f"only {done} of {count} jobs finished"
        return _rates(count, started, enqueued, ended)
    finally:
        await engine.dispose()


async def pgqueuer(dsn: str, count: int) -> Rates:
    from pgqueuer.db import AsyncpgPoolDriver
    from pgqueuer.domain.types import QueueEntrypoint, QueueManagerId
    from pgqueuer.queries import EntrypointExecutionParameter, Queries

    pool = await asyncpg.create_pool(dsn, min_size=WORKERS + 1, max_size=WORKERS + 2)
    try:
        queries = Queries(AsyncpgPoolDriver(pool))
        await queries.install()
        started = time.perf_counter()
        for i in range(count):
            await queries.enqueue("erasure", str(i).encode())
        enqueued = time.perf_counter()
        entrypoints = {
            QueueEntrypoint("erasure"): EntrypointExecutionParameter(concurrency_limit=0)
        }
        finished = 0

        async def worker() -> None:
            nonlocal finished
            manager = QueueManagerId(uuid.uuid4())
            while True:
                jobs = await queries.dequeue(
                    BATCH, entrypoints, manager, None, timedelta(seconds=60)
                )
                if not jobs:
                    return
                await queries.log_jobs([(job, "successful", None) for job in jobs])
                finished += len(jobs)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        ended = time.perf_counter()
        assert finished == count, f"only {finished} of {count} jobs finished"
        return _rates(count, started, enqueued, ended)
    finally:
        await pool.close()


async def run(server: str, count: int) -> None:
    name = f"lupa_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        await asyncio.to_thread(upgrade, dsn)
        table = await ours(dsn, count)
        queue = await pgqueuer(dsn, count)
        print(f"jobs: {count:,} jobs, {WORKERS} claimers, batch {BATCH}")
        for label, a, b in zip(("enqueue", "claim+finish", "whole"), table, queue, strict=True):
            print(
                f"  {label:<13} dsar_jobs {a:>8,.0f} jobs/s   pgqueuer {b:>8,.0f} jobs/s   "
                f"ratio dsar_jobs/pgqueuer = {a / b:.2f}"
            )
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (500 jobs)")
    parser.add_argument("--jobs", type=int, default=5_000)
    args = parser.parse_args()
    with database_url() as url:
        asyncio.run(run(asyncpg_dsn(url), 500 if args.quick else args.jobs))


if __name__ == "__main__":
    main()
