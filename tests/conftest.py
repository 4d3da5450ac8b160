"""Test fixtures: a real PostgreSQL (embedded, or ``TEST_DATABASE_URL``), a fresh database per
run built with ``alembic upgrade heads``, and HTTP clients for the services.

Tests isolate by using random ids (``new_id``), never by cleaning tables: the ledger is
append-only, exactly as in production.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lupa.database import upgrade
from shared.audit.outbox import audited_sessions
from shared.auth.tokens import issue_access_token
from shared.db.embedded import ensure_database, socket_dsn, start_embedded, stop_embedded
from shared.db.engine import create_engine
from shared.keys import Keyring
from shared.settings import (
    DatabaseSettings,
    HttpSettings,
    PublicLimits,
    Settings,
    asyncpg_dsn,
    sqlalchemy_url,
)
from tests.openapi_judge import JudgedClient, load_document

REPO = Path(__file__).resolve().parents[1]
# Every test client comes from one address: the per-address limits would trip across the
# suite; the limits themselves have their own tests (tests/api/hardening/).
ONE_ADDRESS_LIMITS = PublicLimits(link_per_ip=1_000_000, sign_in_per_ip=1_000_000)


def _server_dsn() -> Iterator[str]:
    if os.environ.get("TEST_DATABASE_URL"):
        yield asyncpg_dsn(os.environ["TEST_DATABASE_URL"])
        return
    server = start_embedded(REPO / ".lupa" / "test-pg")
    try:
        ensure_database(server, "postgres")
        yield socket_dsn(server, "postgres")
    finally:
        stop_embedded(server)


def _with_database(dsn: str, name: str) -> str:
    """The same server DSN pointed at database ``name``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session", autouse=True)
def lupa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$LUPA_HOME`` of the run: what code under test writes there (the DSAR worker's .eml
    mail, say) lands in a temporary directory, never in the checkout's ``.lupa``."""
    home = tmp_path_factory.mktemp("lupa-home")
    before = os.environ.get("LUPA_HOME")
    os.environ["LUPA_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("LUPA_HOME", None)
    else:
        os.environ["LUPA_HOME"] = before


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    yield from _server_dsn()


@asynccontextmanager
async def migrated_database(
    server_dsn: str, prefix: str, target: str = "heads"
) -> AsyncIterator[str]:
    """A new database on the test server, built with ``alembic upgrade heads`` (or up to
    ``target``); dropped after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(server_dsn, name)
    await asyncio.to_thread(upgrade, url, target)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def database_url(server_dsn: str) -> AsyncIterator[str]:
    """A fresh database for this test run, migrated to head."""
    async with migrated_database(server_dsn, "lupa_test") as url:
        yield url


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture(scope="session")
def consent_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        service="consent",
        database=DatabaseSettings(url=sqlalchemy_url(database_url), pool_size=10),
        http=HttpSettings(port=8000, public_base_url="http://testserver.local"),
        keys_path=tmp_path_factory.mktemp("keys") / "keyring.json",
        log_json=True,
        log_level="WARNING",
        limits=ONE_ADDRESS_LIMITS,
    )


@pytest.fixture(scope="session")
def connector_secret() -> str:
    """The secret DSAR connector jobs to the ``consent`` app are signed with."""
    from shared.audit.webhooks import new_secret

    return new_secret()


@pytest.fixture(scope="session")
def consent_app(consent_settings: Settings, keyring: Keyring, connector_secret: str) -> Litestar:
    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    return create_app(
        consent_settings,
        keyring=keyring,
        consent=ConsentSettings(connector_secret=connector_secret),
    )


@pytest.fixture(scope="session")
async def consent(consent_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An HTTP client for the consent service (lifespan started once per run). Every response
    it receives must match the service's OpenAPI document (``tests/openapi_judge.py``)."""
    async with JudgedClient(app=consent_app, base_url="http://testserver.local") as client:
        client.document = await load_document(client)
        yield client


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(database_url), pool_size=5))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return audited_sessions(engine)


@pytest.fixture(scope="session")
def token(keyring: Keyring) -> Callable[..., str]:
    def make(role: str, subject: str | None = None, ttl: int = 3600) -> str:
        return issue_access_token(keyring, role, subject, ttl)

    return make


@pytest.fixture(scope="session")
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth("admin")`` -> headers carrying a bearer token for that role."""

    def headers(role: str, subject: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role, subject)}"}

    return headers


@pytest.fixture
def new_id() -> Callable[[str], str]:
    """Random, readable ids so tests never collide: ``new_id("cust")`` -> 'cust-3f9a…'."""
    return lambda prefix="id": f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def dsar_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        service="dsar",
        database=DatabaseSettings(url=sqlalchemy_url(database_url), pool_size=5),
        http=HttpSettings(port=8001, public_base_url="http://dsar.testserver.local"),
        keys_path=tmp_path_factory.mktemp("dsar-keys") / "keyring.json",
        log_json=True,
        log_level="WARNING",
        limits=ONE_ADDRESS_LIMITS,
    )


@pytest.fixture(scope="session")
def dsar_app(dsar_settings: Settings, keyring: Keyring) -> Litestar:
    from services.dsar.app import create_app
    from services.dsar.settings import DsarSettings, RateLimits

    # Every test client comes from one address; the limits themselves have their own tests.
    limits = RateLimits(intake_per_ip=100_000, verify_per_ip=100_000)
    return create_app(dsar_settings, keyring=keyring, dsar=DsarSettings(limits=limits))


@pytest.fixture(scope="session")
async def dsar(dsar_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An HTTP client for the DSAR service; every response is judged against its OpenAPI
    document, as for the consent service."""
    async with JudgedClient(app=dsar_app, base_url="http://dsar.testserver.local") as client:
        client.document = await load_document(client)
        yield client
