"""Queries on webhook subscriptions, their delivery state and dead letters.

``Webhook`` and ``DeadLetter`` are also what the admin API answers with: the same shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.audit.cloudevents import CloudEvent, sequence_of

Db = AsyncConnection | AsyncSession
Row = TypeVar("Row")


class Webhook(msgspec.Struct, frozen=True):
    """A live subscription, without its secret."""

    id: uuid.UUID
    url: str
    types: list[str]
    created_at: datetime


class DeadLetter(msgspec.Struct, frozen=True):
    """An event one subscription failed to take after every retry."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    sequence: int
    event_id: uuid.UUID
    attempts: int
    last_error: str | None
    created_at: datetime
    replay_requested_at: datetime | None
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DueSubscription:
    """A subscription whose next attempt is due, with its sealed secret and delivery cursor."""

    id: uuid.UUID
    url: str
    types: list[str]
    kek_id: str
    sealed_secret: bytes
    sequence: int
    attempts: int


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A dead letter an admin asked to send again."""

    id: uuid.UUID
    sequence: int


# The fields of Webhook and DeadLetter. Constants, never input: the f-strings below carry no
# injection risk.
_COLUMNS = "id, url, types, created_at"
_DEAD_COLUMNS = (
    "id, subscription_id, sequence, event_id, attempts, last_error, created_at, "
    "replay_requested_at, replayed_at"
)


async def _fetch(
    db: Db, row_type: Callable[..., Row], sql: str, params: Mapping[str, object]
) -> list[Row]:
    """The rows ``sql`` returns, each as a ``row_type`` (whose fields are the columns)."""
    result = await db.execute(text(sql), params)
    return [row_type(**r) for r in result.mappings()]


async def create_subscription(
    db: Db, sub_id: uuid.UUID, service: str, url: str, types: list[str], kek_id: str, sealed: bytes
) -> Webhook:
    """A new subscription starts at the current chain head: it receives what happens from now on."""
    [webhook] = await _fetch(
        db,
        Webhook,
        "INSERT INTO webhook_subscriptions "  # noqa: S608
        "(id, service, url, types, kek_id, sealed_secret) "
        f"VALUES (:id, :service, :url, :types, :kek_id, :sealed) RETURNING {_COLUMNS}",
        {
            "id": sub_id,
            "service": service,
            "url": url,
            "types": types,
            "kek_id": kek_id,
            "sealed": sealed,
        },
    )
    await db.execute(
        text(
            "INSERT INTO webhook_deliveries (subscription_id, sequence) "
            "SELECT :id, sequence FROM audit_chain_state WHERE service = :service"
        ),
        {"id": sub_id, "service": service},
    )
    return webhook


async def list_subscriptions(db: Db, service: str) -> list[Webhook]:
    return await _fetch(
        db,
        Webhook,
        f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE service = :service "  # noqa: S608
        "AND deleted_at IS NULL ORDER BY created_at",
        {"service": service},
    )


async def delete_subscription(db: Db, service: str, sub_id: uuid.UUID) -> bool:
    result = await db.execute(
        text(
            "UPDATE webhook_subscriptions SET deleted_at = now() "
            "WHERE id = :id AND service = :service "
            "AND deleted_at IS NULL RETURNING id"
        ),
        {"id": sub_id, "service": service},
    )
    return result.first() is not None


async def list_dead_letters(db: Db, service: str, limit: int) -> list[DeadLetter]:
    return await _fetch(
        db,
        DeadLetter,
        f"SELECT {_DEAD_COLUMNS} FROM webhook_dead_letters WHERE service = :service "  # noqa: S608
        "ORDER BY created_at DESC, sequence DESC LIMIT :limit",
        {"service": service, "limit": limit},
    )


async def request_replay(db: Db, service: str, dead_id: uuid.UUID) -> DeadLetter | None:
    found = await _fetch(
        db,
        DeadLetter,
        "UPDATE webhook_dead_letters "  # noqa: S608
        "SET replay_requested_at = now(), replayed_at = NULL "
        f"WHERE id = :id AND service = :service RETURNING {_DEAD_COLUMNS}",
        {"id": dead_id, "service": service},
    )
    return found[0] if found else None


# --- used by the relay ------------------------------------------------------------------


async def due_subscriptions(db: Db, service: str) -> list[DueSubscription]:
    """Live subscriptions whose next attempt is due, with their delivery state."""
    return await _fetch(
        db,
        DueSubscription,
        "SELECT s.id, s.url, s.types, s.kek_id, s.sealed_secret, d.sequence, d.attempts "
        "FROM webhook_subscriptions s JOIN webhook_deliveries d ON d.subscription_id = s.id "
        "WHERE s.service = :service AND s.deleted_at IS NULL AND d.next_attempt_at <= now()",
        {"service": service},
    )


async def save_delivery(
    db: Db, sub_id: uuid.UUID, sequence: int, attempts: int, retry_in_s: float, error: str | None
) -> None:
    await db.execute(
        text(
            "UPDATE webhook_deliveries SET sequence = GREATEST(sequence, :sequence), "
            "attempts = :attempts, last_error = :error, "
            "next_attempt_at = now() + make_interval(secs => :retry) WHERE subscription_id = :id"
        ),
        {
            "id": sub_id,
            "sequence": sequence,
            "attempts": attempts,
            "retry": retry_in_s,
            "error": error,
        },
    )


async def postpone(db: Db, sub_id: uuid.UUID, retry_in_s: float, error: str) -> None:
    """Try the subscription again later, its cursor and attempts untouched."""
    await db.execute(
        text(
            "UPDATE webhook_deliveries SET last_error = :error, "
            "next_attempt_at = now() + make_interval(secs => :retry) WHERE subscription_id = :id"
        ),
        {"id": sub_id, "retry": retry_in_s, "error": error},
    )


async def add_dead_letter(
    db: Db, sub_id: uuid.UUID, service: str, event: CloudEvent, attempts: int, error: str | None
) -> None:
    await db.execute(
        text(
            "INSERT INTO webhook_dead_letters (id, subscription_id, service, sequence, event_id, "
            "attempts, last_error) "
            "VALUES (:id, :sub, :service, :sequence, :event_id, :attempts, :error) "
            "ON CONFLICT (subscription_id, event_id) DO UPDATE SET attempts = EXCLUDED.attempts, "
            "last_error = EXCLUDED.last_error, replay_requested_at = NULL, replayed_at = NULL"
        ),
        {
            "id": uuid.uuid4(),
            "sub": sub_id,
            "service": service,
            "sequence": sequence_of(event),
            "event_id": uuid.UUID(event["id"]),
            "attempts": attempts,
            "error": error,
        },
    )


async def replays_requested(db: Db, sub_id: uuid.UUID) -> list[ReplayRequest]:
    return await _fetch(
        db,
        ReplayRequest,
        "SELECT id, sequence FROM webhook_dead_letters WHERE subscription_id = :id "
        "AND replay_requested_at IS NOT NULL AND replayed_at IS NULL ORDER BY sequence",
        {"id": sub_id},
    )


async def finish_replay(db: Db, dead_id: uuid.UUID, error: str | None) -> None:
    """Success marks it replayed; a failure leaves it dead (an admin may ask again)."""
    await db.execute(
        text(
            "UPDATE webhook_dead_letters SET "
            "replayed_at = CASE WHEN CAST(:error AS text) IS NULL THEN now() END, "
            "replay_requested_at = "
            "CASE WHEN CAST(:error AS text) IS NULL THEN replay_requested_at END, "
            "last_error = COALESCE(CAST(:error AS text), last_error), attempts = attempts + 1 "
            "WHERE id = :id"
        ),
        {"id": dead_id, "error": error},
    )


# --- used by key rotation ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A subscription's signing secret as stored: sealed by ``kek_id``."""

    id: uuid.UUID
    kek_id: str
    sealed_secret: bytes


async def lock_secrets_under(db: Db, kek_ids: list[str]) -> list[SealedSecret]:
    """Live subscriptions whose secret ``kek_ids`` seal, locked; busy rows are skipped."""
    return await _fetch(
        db,
        SealedSecret,
        "SELECT id, kek_id, sealed_secret FROM webhook_subscriptions "
        "WHERE deleted_at IS NULL AND kek_id = ANY(:keks) ORDER BY id FOR UPDATE SKIP LOCKED",
        {"keks": kek_ids},
    )


async def store_resealed(db: Db, secrets: list[SealedSecret]) -> None:
    await db.execute(
        text(
            "UPDATE webhook_subscriptions SET kek_id = :kek_id, sealed_secret = :sealed_secret "
            "WHERE id = :id"
        ),
        [{"id": s.id, "kek_id": s.kek_id, "sealed_secret": s.sealed_secret} for s in secrets],
    )


async def count_secrets_by_kek(db: Db) -> dict[str, int]:
    """How many live webhook secrets each KEK id seals (every service)."""
    rows = await db.execute(
        text(
            "SELECT kek_id, count(*) FROM webhook_subscriptions WHERE deleted_at IS NULL "
            "GROUP BY kek_id"
        )
    )
    return {kek_id: int(n) for kek_id, n in rows.all()}
