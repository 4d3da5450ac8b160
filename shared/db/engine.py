"""The async engine, sessions, and the transaction scope of one-shot jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.db.write_pool import connection_settings
from shared.settings import DatabaseSettings


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    server_settings = connection_settings(settings, "lupa")
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=False,
        connect_args={
            "timeout": settings.pool_timeout_s,
            "command_timeout": settings.statement_timeout_ms / 1000 + 1,
            "server_settings": server_settings,
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; whoever owns the process adds the outbox guard
    (``shared.audit.outbox.audited_sessions``)."""
    return async_sessionmaker(engine, expire_on_commit=False)


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
