"""Fixtures for the job tests: a scratch database per test (workers take every queued job of
their database), requests and connectors inserted as the approval and the registry would,
and workers run in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.dsar.service.connector_secrets import seal_secret
from services.dsar.service.jobs import ACTION_OF_TYPE, enqueue_for_request
from services.dsar.service.request_keys import RequestKeys, seal_value
from services.dsar.settings import DsarSettings, ExecutionSettings
from services.dsar.worker import run_worker
from shared.audit.outbox import AuditEvent, audited_sessions, record_event
from shared.audit.webhooks import new_secret
from shared.db.engine import create_engine, session_scope
from shared.keys import Keyring
from shared.settings import DatabaseSettings, HttpSettings, Settings, sqlalchemy_url
from tests.conftest import migrated_database

FAST = ExecutionSettings(
    max_attempts=3, backoff_base_s=0.05, backoff_cap_s=0.2, timeout_s=1, lease_s=5, poll_s=0.1
)


@pytest.fixture
async def jobs_url(server_dsn: str) -> AsyncIterator[str]:
    async with migrated_database(server_dsn, "lupa_jobs") as url:
        yield url


@pytest.fixture
async def jobs_engine(jobs_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(jobs_url), pool_size=10))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(jobs_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return audited_sessions(jobs_engine)


@dataclass
class Scene:
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    url: str

    async def connector(
        self, url: str, actions: tuple[str, ...] = ("access", "erasure", "rectification")
    ) -> tuple[str, str]:
        name, secret = f"c-{uuid.uuid4().hex[:10]}", new_secret()
        kek_id, sealed = seal_secret(self.keyring, name, secret)
        async with session_scope(self.sessions) as s:
            await s.execute(
                text(
                    "INSERT INTO dsar_connectors (name, url, kek_id, secret_ct, actions) "
                    "VALUES (:n, :u, :k, :s, :a)"
                ),
                {"n": name, "u": url, "k": kek_id, "s": sealed, "a": list(actions)},
            )
            await record_event(s, AuditEvent("dsar", "connector.registered", None, {"name": name}))
        return name, secret

    async def request(
        self, type_: str = "access", changes: dict[str, Any] | None = None
    ) -> uuid.UUID:
        """An approved, verified request in progress, with its jobs enqueued."""
        rid = uuid.uuid4()
        async with session_scope(self.sessions) as s:
            dek, kek_id, wrapped = RequestKeys(s, self.keyring).new_key(rid)
            now = datetime.now(UTC)
            await s.execute(
                text("""
                    INSERT INTO dsar_requests (id, type, status, origin, subject, kek_id,
                        wrapped_key, email_ct, changes_ct, verified_at, verified_by,
                        received_at, due_at)
                    VALUES (:id, :t, 'in_progress', 'officer', :sub, :k, :w, :e, :c, now(),
                        'officer', :now, :due)
                """),
                {
                    "id": rid,
                    "t": type_,
                    "sub": f"cust-{rid.hex[:8]}",
                    "k": kek_id,
                    "w": wrapped,
                    "e": seal_value(dek, rid, "email", f"{rid.hex[:8]}@example.org".encode()),
                    "c": None
                    if changes is None
                    else seal_value(dek, rid, "changes", json.dumps(changes).encode()),
                    "now": now,
                    "due": now + timedelta(days=30),
                },
            )
            await record_event(s, AuditEvent("dsar", "request.approved", str(rid), {}))
            await enqueue_for_request(s, rid, ACTION_OF_TYPE[type_])
        return rid

    async def job(self, request_id: uuid.UUID) -> Any:
        async with self.sessions() as s:
            return (
                await s.execute(
                    text("SELECT * FROM dsar_jobs WHERE request_id = :r"), {"r": request_id}
                )
            ).one()

    async def request_row(self, request_id: uuid.UUID) -> Any:
        async with self.sessions() as s:
            return (
                await s.execute(
                    text("SELECT * FROM dsar_requests WHERE id = :r"), {"r": request_id}
                )
            ).one()

    async def until(self, check: Callable[[], Any], timeout_s: float = 15) -> None:
        """Poll (bounded) until ``check()`` is truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await check():
            assert loop.time() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def worker(
        self, execution: ExecutionSettings = FAST, name: str = "w1"
    ) -> AsyncIterator[None]:
        settings = Settings(
            service="dsar",
            database=DatabaseSettings(url=sqlalchemy_url(self.url), pool_size=5),
            http=HttpSettings(port=8001, public_base_url="http://dsar.test"),
            keys_path=Path("/nonexistent/keyring.json"),  # the keyring is passed in
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_worker(settings, DsarSettings(execution=execution), self.keyring, stop, name)
        )
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


@pytest.fixture
async def jobs_api(jobs_url: str, keyring: Keyring) -> AsyncIterator[Any]:
    """The DSAR app on this test's database, each response judged against its OpenAPI."""
    from services.dsar.app import create_app
    from tests.openapi_judge import JudgedClient, load_document

    settings = Settings(
        service="dsar",
        database=DatabaseSettings(url=sqlalchemy_url(jobs_url), pool_size=3),
        http=HttpSettings(port=8001, public_base_url="http://dsar.test"),
        keys_path=Path("/nonexistent/keyring.json"),
        log_level="WARNING",
    )
    app = create_app(settings, keyring=keyring)
    async with JudgedClient(app=app, base_url="http://dsar.test") as client:
        client.document = await load_document(client)
        yield client


@pytest.fixture
def scene(sessions: async_sessionmaker[AsyncSession], keyring: Keyring, jobs_url: str) -> Scene:
    return Scene(sessions, keyring, jobs_url)
