"""A sick database makes every check a fast "no": stopped server, locked tables, never a yes."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from lupa.database import upgrade
from services.consent.app import create_app
from services.consent.settings import CheckBounds, ConsentSettings
from shared.db.embedded import ensure_database, socket_dsn, start_embedded, stop_embedded
from shared.settings import DatabaseSettings, HttpSettings, Settings, sqlalchemy_url
from tests.api.check.helpers import granted

REPO = Path(__file__).resolve().parents[3]
FAST = ConsentSettings(check=CheckBounds(statement_timeout_ms=300, acquire_timeout_s=0.5))
# Outer bound a sender would notice: the statement timeout, the acquire timeout, and slack.
BOUND_S = 2.5


def settings_for(url: str, keys: Path) -> Settings:
    return Settings(
        service="consent",
        database=DatabaseSettings(url=sqlalchemy_url(url), pool_size=4, pool_timeout_s=0.5),
        http=HttpSettings(public_base_url="http://testserver.local"),
        keys_path=keys,
        log_level="WARNING",
    )


@pytest.fixture
def own_server() -> Iterator[tuple[object, str]]:
    """A PostgreSQL of this test's own, so stopping it disturbs nobody else."""
    datadir = REPO / ".lupa" / f"check-failclosed-{uuid.uuid4().hex[:8]}"
    server = start_embedded(datadir)
    try:
        ensure_database(server, "postgres")
        dsn = socket_dsn(server, "postgres")
        upgrade(dsn)
        yield server, dsn
    finally:
        stop_embedded(server)
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
async def client(own_server, keyring, tmp_path) -> AsyncIterator[AsyncTestClient]:
    app = create_app(
        settings_for(own_server[1], tmp_path / "keys.json"), keyring=keyring, consent=FAST
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


async def test_a_stopped_database_turns_every_check_into_a_quick_no(
    own_server, client, auth, new_id
):
    key, ext, _ = await granted(client, auth, new_id)
    params = {"subject": ext, "purpose": key, "channel": "email"}
    ok = await client.get("/v1/check", params=params, headers=auth("marketing"))
    assert ok.json()["allowed"] is True
    stop_embedded(own_server[0])
    for _ in range(3):  # broken pooled connections first, then refused new ones
        started = time.monotonic()
        resp = await client.get("/v1/check", params=params, headers=auth("marketing"))
        assert time.monotonic() - started < BOUND_S
        assert resp.status_code == 503
        body = resp.json()
        assert body["allowed"] is False and body["reasons"] == ["unavailable"]
        assert body["type"] == "urn:lupa:problem:unavailable"
    batch = await client.post(
        "/v1/check/batch",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    assert batch.status_code == 503 and batch.json()["allowed"] is False


async def test_a_database_too_slow_to_answer_is_a_no_within_the_timeout(
    consent_settings, keyring, database_url, auth, new_id, tmp_path
):
    slow = settings_for(database_url, tmp_path / "keys.json")
    app = create_app(slow, keyring=keyring, consent=FAST)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        key, ext, _ = await granted(client, auth, new_id)
        locker = await asyncpg.connect(database_url)
        try:
            async with locker.transaction():
                # Another transaction holds the table the check reads: its read waits on the lock.
                await locker.execute("LOCK TABLE check_facts IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                resp = await client.get(
                    "/v1/check",
                    params={"subject": ext, "purpose": key, "channel": "email"},
                    headers=auth("marketing"),
                )
                assert time.monotonic() - started < BOUND_S
        finally:
            await locker.close()
        assert resp.status_code == 503 and resp.json()["reasons"] == ["unavailable"]
        after = await client.get(
            "/v1/check",
            params={"subject": ext, "purpose": key, "channel": "email"},
            headers=auth("marketing"),
        )
        assert after.json()["allowed"] is True
