"""Queries over ``dsar_requests``, its identity codes and notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit.outbox import AUDIT_COLUMNS, AuditEvent, audit_row, note_recorded
from shared.db import statements
from shared.db.statements import Statement

OPEN = ("identity_pending", "received", "in_progress", "awaiting_requester")


class RequestRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    type: str
    status: str
    origin: str
    subject: str | None
    locale: str
    kek_id: str | None
    wrapped_key: bytes | None
    email_ct: bytes | None
    email_index: bytes | None
    changes_ct: bytes | None
    verified_at: datetime | None
    verified_by: str | None
    received_at: datetime
    due_at: datetime
    paused_at: datetime | None
    paused_seconds: int
    pause_reason: str | None
    question_ct: bytes | None
    extended_months: int | None
    extension_reason_ct: bytes | None
    assignee: str | None
    duplicate_of: uuid.UUID | None
    outcome: str | None
    reject_reason_ct: bytes | None
    erasure_receipt: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


_COLUMNS = ", ".join(RequestRow.__struct_fields__)


def _row(mapping: Any) -> RequestRow:
    return RequestRow(**{name: mapping[name] for name in RequestRow.__struct_fields__})


# A new request has only these set; the rest start as the table's defaults (NULL, 0).
NEW_COLUMNS = (
    "id",
    "type",
    "status",
    "origin",
    "subject",
    "locale",
    "kek_id",
    "wrapped_key",
    "email_ct",
    "email_index",
    "changes_ct",
    "verified_at",
    "verified_by",
    "received_at",
    "due_at",
    "paused_at",
    "pause_reason",
    "created_at",
    "updated_at",
)
_n = len(NEW_COLUMNS)
# The request and its audit event in one statement: intake is on the public hot path.
_INSERT_WITH_EVENT = Statement(
    f"WITH request AS (INSERT INTO dsar_requests ({', '.join(NEW_COLUMNS)})"  # noqa: S608 (names from code)
    f" VALUES ({', '.join(f'${i}' for i in range(1, _n + 1))}) RETURNING id)"
    f" INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)})"
    f" SELECT {', '.join(f'${i}' for i in range(_n + 1, _n + 1 + len(AUDIT_COLUMNS)))}"
    " FROM request"
)


async def insert(session: AsyncSession, row: RequestRow, audit: AuditEvent) -> None:
    """``row`` (as far as NEW_COLUMNS go) and the audit event of its receipt."""
    values = [getattr(row, name) for name in NEW_COLUMNS]
    await statements.execute(session, _INSERT_WITH_EVENT, *values, *audit_row(audit))
    note_recorded(session)


async def get(
    session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False
) -> RequestRow | None:
    sql = f"SELECT {_COLUMNS} FROM dsar_requests WHERE id = :id" + (" FOR UPDATE" if lock else "")  # noqa: S608
    found = (await session.execute(text(sql), {"id": request_id})).mappings().one_or_none()
    return None if found is None else _row(found)


async def update(session: AsyncSession, request_id: uuid.UUID, **changes: Any) -> None:
    """Set ``changes`` (column names from code, never from input) and ``updated_at``."""
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    await session.execute(
        text(f"UPDATE dsar_requests SET {assignments}, updated_at = now() WHERE id = :request_id"),  # noqa: S608
        {**changes, "request_id": request_id},
    )


async def open_verified_twin(session: AsyncSession, request: RequestRow) -> uuid.UUID | None:
    """An earlier open, verified request of the same type for the same person (by subject, or
    by address when no subject is known): the one a new request is linked to."""
    if request.subject is None and request.email_index is None:
        return None
    by = "subject = :subject" if request.subject is not None else "email_index = :email_index"
    found = (
        await session.execute(
            text(
                f"SELECT id FROM dsar_requests WHERE {by} AND type = :type AND id <> :id"  # noqa: S608
                " AND verified_at IS NOT NULL AND duplicate_of IS NULL"
                " AND status IN ('received', 'in_progress', 'awaiting_requester')"
                " ORDER BY created_at LIMIT 1"
            ),
            {
                "subject": request.subject,
                "email_index": request.email_index,
                "type": request.type,
                "id": request.id,
            },
        )
    ).scalar_one_or_none()
    return found


class InboxFilter(msgspec.Struct, frozen=True):
    status: str | None = None
    type: str | None = None
    assignee: str | None = None
    due_before: datetime | None = None
    overdue_at: datetime | None = None  # set: only requests open and due before this instant
    subject: str | None = None
    limit: int = 100


async def inbox(session: AsyncSession, wanted: InboxFilter) -> list[RequestRow]:
    """Requests by deadline, earliest first; finished ones only when asked for by status."""
    where = ["duplicate_of IS NULL OR status <> 'completed'"]
    params: dict[str, Any] = {"limit": wanted.limit}
    if wanted.status is not None:
        where.append("status = :status")
        params["status"] = wanted.status
    elif wanted.overdue_at is None:
        where.append(
            "status IN ('identity_pending', 'received', 'in_progress', 'awaiting_requester')"
        )
    for name in ("type", "assignee", "subject"):
        if getattr(wanted, name) is not None:
            where.append(f"{name} = :{name}")
            params[name] = getattr(wanted, name)
    if wanted.due_before is not None:
        where.append("due_at < :due_before")
        params["due_before"] = wanted.due_before
    if wanted.overdue_at is not None:
        where.append("status IN ('received', 'in_progress') AND due_at < :overdue_at")
        params["overdue_at"] = wanted.overdue_at
    sql = (
        f"SELECT {_COLUMNS} FROM dsar_requests WHERE ({') AND ('.join(where)})"  # noqa: S608
        " ORDER BY due_at, created_at LIMIT :limit"
    )
    return [_row(m) for m in (await session.execute(text(sql), params)).mappings()]


# Identity codes


class CodeRow(msgspec.Struct, frozen=True):
    code_hash: bytes
    expires_at: datetime
    attempts: int


async def put_code(
    session: AsyncSession, request_id: uuid.UUID, code_hash: bytes, expires_at: datetime
) -> None:
    await session.execute(
        text(
            "INSERT INTO dsar_identity_codes (request_id, code_hash, expires_at)"
            " VALUES (:id, :hash, :expires)"
            " ON CONFLICT (request_id) DO UPDATE SET code_hash = excluded.code_hash,"
            " expires_at = excluded.expires_at, attempts = 0, sent_at = now()"
        ),
        {"id": request_id, "hash": code_hash, "expires": expires_at},
    )


async def get_code(session: AsyncSession, request_id: uuid.UUID) -> CodeRow | None:
    found = (
        (
            await session.execute(
                text(
                    "SELECT code_hash, expires_at, attempts FROM dsar_identity_codes"
                    " WHERE request_id = :id"
                ),
                {"id": request_id},
            )
        )
        .mappings()
        .one_or_none()
    )
    return None if found is None else CodeRow(**found)


async def count_attempt(session: AsyncSession, request_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE dsar_identity_codes SET attempts = attempts + 1 WHERE request_id = :id"),
        {"id": request_id},
    )


async def delete_code(session: AsyncSession, request_id: uuid.UUID) -> None:
    await session.execute(
        text("DELETE FROM dsar_identity_codes WHERE request_id = :id"), {"id": request_id}
    )


# Notes and connector progress, for the request's page


class NoteRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    author: str
    body_ct: bytes
    created_at: datetime


async def add_note(
    session: AsyncSession, note_id: uuid.UUID, request_id: uuid.UUID, author: str, body_ct: bytes
) -> None:
    await session.execute(
        text(
            "INSERT INTO dsar_notes (id, request_id, author, body_ct)"
            " VALUES (:id, :request_id, :author, :body)"
        ),
        {"id": note_id, "request_id": request_id, "author": author, "body": body_ct},
    )


async def notes(session: AsyncSession, request_id: uuid.UUID) -> list[NoteRow]:
    rows = await session.execute(
        text(
            "SELECT id, author, body_ct, created_at FROM dsar_notes"
            " WHERE request_id = :id ORDER BY created_at, id"
        ),
        {"id": request_id},
    )
    return [NoteRow(**m) for m in rows.mappings()]


class JobProgress(msgspec.Struct, frozen=True):
    name: str
    action: str
    status: str
    attempts: int
    last_error: str | None
    reason: str | None
    updated_at: datetime


async def job_progress(session: AsyncSession, request_id: uuid.UUID) -> list[JobProgress]:
    rows = await session.execute(
        text(
            "SELECT connector AS name, action, status, attempts, last_error, reason, updated_at"
            " FROM dsar_jobs WHERE request_id = :id ORDER BY connector, action"
        ),
        {"id": request_id},
    )
    return [JobProgress(**m) for m in rows.mappings()]


class TimelineEntry(msgspec.Struct, frozen=True):
    time: datetime
    type: str
    data: dict[str, Any]  # the audit event's own members (free-form by event type)


async def timeline(session: AsyncSession, request_id: uuid.UUID) -> list[TimelineEntry]:
    """The request's audit events, oldest first: every action taken on it."""
    rows = await session.execute(
        text(
            "SELECT time, type, data FROM audit_events"
            " WHERE subject = :subject AND service = 'dsar' ORDER BY time, id"
        ),
        {"subject": str(request_id)},
    )
    return [TimelineEntry(time=m["time"], type=m["type"], data=m["data"]) for m in rows.mappings()]
