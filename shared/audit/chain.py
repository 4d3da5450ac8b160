"""The chainer: gives committed outbox events their place in the per-service hash chain.

Events get ``sequence``, ``prev_hash``, ``hash`` and their final ``recorded_at`` here, once,
in the order the chainer sees them committed. The ``audit_chain_state`` row lock serialises
chainers of one chain, and readers page by ``sequence`` (never by the insert id), so an event
whose transaction commits late is simply chained after the events already chained: never
skipped, never slotted in between.

Why not wait for ``pg_snapshot_xmin`` (chain only rows older than every running transaction)?
That bound is cluster-wide: any long write transaction in any database of the server stalls
every chain, and the late event still lands after what is already chained. Ordering by what
has committed keeps the same guarantees without that coupling (see docs/audit.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.audit.checkpoints import CheckpointPolicy, sign_due_checkpoints
from shared.audit.cloudevents import GENESIS_HASH, StoredEvent, canonical_bytes, to_cloudevent
from shared.db.tables import audit_events
from shared.keys import Keyring

_LOCK_HEAD = text(
    "SELECT sequence, head_hash FROM audit_chain_state WHERE service = :service FOR UPDATE"
)
_SAVE_HEAD = text(
    "UPDATE audit_chain_state SET sequence = :sequence, head_hash = :head WHERE service = :service"
)
_ASSIGN = text("""
    UPDATE audit_events e
    SET sequence = u.seq, prev_hash = u.prev, hash = u.h, recorded_at = u.recorded
    FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:prevs AS bytea[]),
                CAST(:hashes AS bytea[]), CAST(:recorded AS timestamptz[]))
         AS u(id, seq, prev, h, recorded)
    WHERE e.id = u.id AND e.sequence IS NULL
""")
# The database's clock, read after the batch's rows: each of them committed before this instant.
_NOW = text("SELECT clock_timestamp()")


@dataclass(frozen=True)
class ChainHead:
    service: str
    sequence: int
    hash: bytes


def event_hash(row: StoredEvent) -> bytes:
    """SHA-256 over the canonical CloudEvent (with its sequence and prevhash)."""
    return hashlib.sha256(canonical_bytes(to_cloudevent(row))).digest()


def _committed_unchained(service: str, limit: int) -> Any:
    """Unchained events visible now; within one batch, insert order (which respects causality)."""
    return (
        select(audit_events)
        .where(audit_events.c.service == service, audit_events.c.sequence.is_(None))
        .order_by(audit_events.c.id)
        .limit(limit)
    )


def link(
    rows: Sequence[StoredEvent], head: ChainHead, recorded_at: datetime
) -> tuple[list[StoredEvent], ChainHead]:
    """Assign sequence, prev_hash and hash to ``rows`` after ``head`` (pure).

    ``recorded_at`` (the CloudEvents ``recordedtime``) becomes the moment of chaining: the
    event takes its final form, and its place in the trail, only now. It is never earlier
    than the event's ``time``, even when the writer's clock ran ahead of the database's.
    """
    sequence, prev = head.sequence, head.hash
    linked = []
    for row in rows:
        sequence += 1
        row = replace(
            row, sequence=sequence, prev_hash=prev, recorded_at=max(recorded_at, row.time)
        )
        prev = event_hash(row)
        linked.append(replace(row, hash=prev))
    return linked, ChainHead(head.service, sequence, prev)


async def chain_batch(conn: AsyncConnection, service: str, limit: int) -> tuple[int, ChainHead]:
    """Chain up to ``limit`` committed events inside the caller's transaction."""
    state = (await conn.execute(_LOCK_HEAD, {"service": service})).one()
    head = ChainHead(service, state.sequence, bytes(state.head_hash or GENESIS_HASH))
    found = await conn.execute(_committed_unchained(service, limit))
    rows = [StoredEvent(**r) for r in found.mappings()]
    if not rows:
        return 0, head
    linked, head = link(rows, head, await conn.scalar(_NOW))
    await conn.execute(
        _ASSIGN,
        {
            "ids": [r.id for r in linked],
            "seqs": [r.sequence for r in linked],
            "prevs": [r.prev_hash for r in linked],
            "hashes": [r.hash for r in linked],
            "recorded": [r.recorded_at for r in linked],
        },
    )
    await conn.execute(
        _SAVE_HEAD, {"service": service, "sequence": head.sequence, "head": head.hash}
    )
    return len(rows), head


async def chain_pending(
    engine: AsyncEngine,
    service: str,
    *,
    keyring: Keyring | None = None,
    policy: CheckpointPolicy | None = None,
    batch: int = 1000,
) -> int:
    """Chain every committed event of ``service`` (batch by batch); checkpoint when due.

    Returns how many events were chained. Safe to call from any number of processes at once.
    """
    policy = policy or CheckpointPolicy()
    total = 0
    while True:
        async with engine.begin() as conn:
            count, head = await chain_batch(conn, service, batch)
            if keyring is not None:
                await sign_due_checkpoints(conn, service, head.sequence, keyring, policy)
        total += count
        if count < batch:
            return total
