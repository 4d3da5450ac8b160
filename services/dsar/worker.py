"""The DSAR worker: runs connector jobs from ``dsar_jobs`` until told to stop.

It wakes at once on ``NOTIFY dsar_jobs`` (a dedicated connection LISTENs) and also every
``poll_s`` seconds, for backoff timers, notifications lost while it was down, and the periodic
tasks (lease expiry first). Each claim is committed before the connector is called, so a
worker that dies mid-call leaves a ``running`` job whose lease runs out and which any worker
then queues again: nothing is lost, and connectors deduplicate repeats by the job id. Several
workers share one database safely (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dsar.db.jobs import Job
from services.dsar.mail.settings import MailSettings
from services.dsar.mail.transport import Transport, transport_from_env
from services.dsar.service.connector_calls import CallError, Outcome, call_connector
from services.dsar.service.job_runs import (
    claim_jobs,
    prepare_call,
    record_outcome,
    release_job,
    requeue_expired_jobs,
)
from services.dsar.service.mail import send_due_mail
from services.dsar.settings import DsarSettings
from shared.audit.outbox import audited_sessions
from shared.db.engine import create_engine, session_scope
from shared.keys import Keyring
from shared.settings import Settings, asyncpg_dsn, lupa_home

log = structlog.get_logger("lupa.dsar.worker")
CHANNEL = "dsar_jobs"
MAIL_CHANNEL = "dsar_mail"  # queue_mail notifies it: a code goes out at once, not at the next poll


@dataclass(frozen=True)
class WorkerContext:
    """What a periodic task may use."""

    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    settings: Settings
    dsar: DsarSettings
    http: httpx.AsyncClient


PeriodicTask = Callable[[WorkerContext], Awaitable[object]]


@contextlib.asynccontextmanager
async def _transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[_Tx]:
    """A transaction that commits only when the work says it changed something: an UPDATE
    that matched no row (nothing due, a lost lease) has no audit event and is rolled back."""
    async with sessions() as session:
        tx = _Tx(session)
        try:
            yield tx
        except BaseException:
            await session.rollback()
            raise
        if tx.changed:
            await session.commit()
        else:
            await session.rollback()


@dataclass
class _Tx:
    session: AsyncSession
    changed: bool = False


async def expire_leases(ctx: WorkerContext) -> object:
    async with _transaction(ctx.sessions) as tx:
        expired = await requeue_expired_jobs(tx.session)
        tx.changed = bool(expired)
    return expired


def mail_sender(transport: Transport, mail: MailSettings) -> PeriodicTask:
    """Send the mail that is due (codes, notices, download links): queued by the steps of the
    workflow in their own transactions, sent here after they committed."""

    async def send_mail(ctx: WorkerContext) -> object:
        return await send_due_mail(ctx.sessions, ctx.keyring, transport, settings=mail)

    return send_mail


def default_tasks() -> list[PeriodicTask]:
    """Run on every wake-up before claiming: lease expiry, then the mail that is due (to SMTP
    when ``LUPA_SMTP_URL`` is set, else as .eml files under ``$LUPA_HOME/mail``)."""
    transport = transport_from_env(os.environ, lupa_home())
    return [expire_leases, mail_sender(transport, MailSettings.from_env())]


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_worker(
    settings: Settings,
    dsar_settings: DsarSettings,
    keyring: Keyring,
    stop: asyncio.Event,
    name: str | None = None,
    periodic: Sequence[PeriodicTask] | None = None,
) -> None:
    """Run jobs until ``stop`` is set; then finish the calls in flight (or give them back)."""
    database = replace(settings.database, pool_size=dsar_settings.execution.concurrency + 2)
    engine = create_engine(database)
    listener = await asyncpg.connect(asyncpg_dsn(settings.database.url))
    try:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            ctx = WorkerContext(audited_sessions(engine), keyring, settings, dsar_settings, http)
            tasks = list(periodic) if periodic is not None else default_tasks()
            loop = _Loop(ctx, name or default_name(), tasks)
            await listener.add_listener(CHANNEL, loop.notified)
            await listener.add_listener(MAIL_CHANNEL, loop.notified)
            await loop.run(stop)
    finally:
        with contextlib.suppress(Exception):
            await listener.close()
        await engine.dispose()


class _Loop:
    def __init__(self, ctx: WorkerContext, name: str, periodic: list[PeriodicTask]) -> None:
        self.ctx, self.name, self.periodic = ctx, name, periodic
        self.execution = ctx.dsar.execution
        self.public_url = ctx.settings.http.public_base_url
        self.wake = asyncio.Event()
        self.running: dict[asyncio.Task[None], Job] = {}

    def notified(self, *_: object) -> None:
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker.started", worker=self.name)
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self.wake.clear()
                await self._tick()
                await self._wait(stopping)
        finally:
            stopping.cancel()
            await self._drain()
            log.info("worker.stopped", worker=self.name)

    async def _tick(self) -> None:
        for task in self.periodic:
            try:
                await task(self.ctx)
            except Exception:  # one failing task must not stop the others or the jobs
                log.exception("worker.periodic_failed", task=getattr(task, "__name__", "?"))
        free = self.execution.concurrency - len(self.running)
        if free <= 0:
            return
        try:
            async with _transaction(self.ctx.sessions) as tx:
                jobs = await claim_jobs(tx.session, self.name, self.execution.lease_s, free)
                tx.changed = bool(jobs)
        except Exception:
            log.exception("worker.claim_failed")
            return
        for job in jobs:
            call = asyncio.create_task(self._execute(job))
            self.running[call] = job
            call.add_done_callback(self._done)
        if len(jobs) == free:
            self.wake.set()  # there may be more: claim again as soon as a slot frees

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)
        self.wake.set()

    async def _wait(self, stopping: asyncio.Future[Any]) -> None:
        """Until there is reason to claim (a notification or a finished call, with a slot
        free), the poll interval passes, or the worker stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.execution.poll_s
        while not stopping.done():
            has_slot = len(self.running) < self.execution.concurrency
            if self.wake.is_set() and has_slot:
                return
            if not has_slot:
                self.wake.clear()  # every slot busy: a finishing call sets it again
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            woken = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait(
                    {woken, stopping}, timeout=remaining, return_when="FIRST_COMPLETED"
                )
            finally:
                woken.cancel()

    async def _execute(self, job: Job) -> None:
        try:
            outcome = await self._call(job)
            async with _transaction(self.ctx.sessions) as tx:
                tx.changed = await record_outcome(
                    tx.session, self.ctx.keyring, job, outcome, self.execution, self.public_url
                )
            log.info(
                "job.ran", job=str(job.id), attempt=job.attempts, outcome=type(outcome).__name__
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease brings the job back; the worker goes on
            log.exception("job.record_failed", job=str(job.id))

    async def _call(self, job: Job) -> Outcome:
        base = self.ctx.settings.http.public_base_url
        async with session_scope(self.ctx.sessions) as session:
            try:
                url, secret, call = await prepare_call(session, self.ctx.keyring, job, base)
            except Exception as exc:  # a missing key or secret: an error like any other
                return CallError(f"cannot prepare the call ({type(exc).__name__})")
        return await call_connector(self.ctx.http, url, secret, call, self.execution.timeout_s)

    async def _drain(self) -> None:
        """Let calls in flight finish (each is bounded by the timeout); give back the rest."""
        if not self.running:
            return
        pending = dict(self.running)
        _, late = await asyncio.wait(pending, timeout=self.execution.timeout_s + 2)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for task in late:
            with contextlib.suppress(Exception):
                async with _transaction(self.ctx.sessions) as tx:
                    tx.changed = await release_job(tx.session, pending[task])
