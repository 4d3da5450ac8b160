"""The async engine and the request-scoped transaction: the one place Lupa commits."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.settings import DatabaseSettings

SESSION_FACTORY_KEY = "session_factory"


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=False,
        connect_args={
            "timeout": settings.pool_timeout_s,
            "command_timeout": settings.statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
                "application_name": "lupa",
            },
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; whoever owns the process adds the outbox guard
    (``shared.audit.outbox.audited_sessions``)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def provide_transaction(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: commits when the handler returns, rolls back if it raises.

    Litestar closes this dependency before the response is sent, so a client never sees a
    success for a change that did not commit.
    """
    factory: async_sessionmaker[AsyncSession] = state[SESSION_FACTORY_KEY]
    async with factory() as session, session.begin():
        yield session


def session_scope(factory: async_sessionmaker[AsyncSession]) -> Any:
    """For CLI jobs: ``async with session_scope(f) as s:`` commits on success."""
    return _SessionScope(factory)


class _SessionScope:
    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory

    async def __aenter__(self) -> AsyncSession:
        self.session = self.factory()
        await self.session.begin()
        return self.session

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
