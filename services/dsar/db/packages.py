"""Queries behind access packages, download links and erasure receipts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession


async def request_row(session: AsyncSession, request_id: uuid.UUID) -> Row[Any] | None:
    return (
        await session.execute(
            text(
                "SELECT id, type, status, locale, received_at, completed_at"
                " FROM dsar_requests WHERE id = :id"
            ),
            {"id": request_id},
        )
    ).one_or_none()


async def job_rows(session: AsyncSession, request_id: uuid.UUID, action: str) -> Sequence[Row[Any]]:
    """The request's jobs of one action, in connector order (a stable package)."""
    return (
        await session.execute(
            text(
                "SELECT id, connector, status, reason, result_ct FROM dsar_jobs"
                " WHERE request_id = :id AND action = :action ORDER BY connector"
            ),
            {"id": request_id, "action": action},
        )
    ).all()


async def upsert_package(
    session: AsyncSession, request_id: uuid.UUID, package_ct: bytes, summary_ct: bytes
) -> None:
    """Store the package; building it again (after a connector's late answer) replaces it."""
    await session.execute(
        text(
            "INSERT INTO dsar_packages (request_id, package_ct, summary_ct)"
            " VALUES (:id, :package, :summary) ON CONFLICT (request_id) DO UPDATE"
            " SET package_ct = EXCLUDED.package_ct, summary_ct = EXCLUDED.summary_ct,"
            " created_at = now()"
        ),
        {"id": request_id, "package": package_ct, "summary": summary_ct},
    )


async def package_row(session: AsyncSession, request_id: uuid.UUID) -> Row[Any] | None:
    return (
        await session.execute(
            text(
                "SELECT package_ct, summary_ct, created_at FROM dsar_packages"
                " WHERE request_id = :id"
            ),
            {"id": request_id},
        )
    ).one_or_none()


async def insert_link(
    session: AsyncSession, link_id: uuid.UUID, request_id: uuid.UUID, expires_at: datetime
) -> None:
    await session.execute(
        text(
            "INSERT INTO dsar_download_links (id, request_id, expires_at)"
            " VALUES (:id, :request, :expires)"
        ),
        {"id": link_id, "request": request_id, "expires": expires_at},
    )


async def spend_link(session: AsyncSession, link_id: uuid.UUID) -> uuid.UUID | None:
    """Mark an unused, unexpired link used; its request id, or None if it was not spendable.
    One statement, so two downloads racing for one link cannot both win."""
    return (
        await session.execute(
            text(
                "UPDATE dsar_download_links SET used_at = now()"
                " WHERE id = :id AND used_at IS NULL AND expires_at > now()"
                " RETURNING request_id"
            ),
            {"id": link_id},
        )
    ).scalar_one_or_none()


async def link_row(session: AsyncSession, link_id: uuid.UUID) -> Row[Any] | None:
    return (
        await session.execute(
            text("SELECT request_id, used_at, expires_at FROM dsar_download_links WHERE id = :id"),
            {"id": link_id},
        )
    ).one_or_none()
