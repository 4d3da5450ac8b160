"""Recompute a service's hash chain and check its signed checkpoints; name the first bad event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.audit.chain import event_hash
from shared.audit.checkpoints import checkpoint_problem
from shared.audit.cloudevents import GENESIS_HASH
from shared.db.tables import audit_events
from shared.keys import Keyring

PAGE = 5000


@dataclass(frozen=True)
class Finding:
    service: str
    sequence: int
    event_id: str | None
    problem: str

    def __str__(self) -> str:
        event = f" (event {self.event_id})" if self.event_id else ""
        return f"{self.service}: sequence {self.sequence}{event}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    service: str
    events: int
    checkpoints: int
    pending: int
    finding: Finding | None


async def _chained(conn: AsyncConnection, service: str) -> AsyncIterator[dict[str, Any]]:
    after = 0
    while True:
        page = (
            (
                await conn.execute(
                    select(audit_events)
                    .where(audit_events.c.service == service, audit_events.c.sequence > after)
                    .order_by(audit_events.c.sequence)
                    .limit(PAGE)
                )
            )
            .mappings()
            .all()
        )
        for row in page:
            yield dict(row)
        if len(page) < PAGE:
            return
        after = page[-1]["sequence"]


def row_problem(row: dict[str, Any], expected: int, prev: bytes) -> str | None:
    """What is wrong with one chained row, given the sequence and prev hash it should have."""
    if row["sequence"] != expected:
        return (
            f"sequence {expected} to {row['sequence'] - 1} missing (deleted or renumbered)"
            if row["sequence"] > expected
            else "sequence out of order"
        )
    if bytes(row["prev_hash"]) != prev:
        return f"prev_hash does not match event {expected - 1} (re-ordered or inserted)"
    if event_hash(row) != bytes(row["hash"]):
        return "content does not match its hash (altered)"
    return None


async def verify_chain(conn: AsyncConnection, service: str, keyring: Keyring) -> ChainReport:
    """Walk the chain in sequence order; stop at the first problem."""
    checkpoints = {
        r["sequence"]: dict(r)
        for r in (
            await conn.execute(
                text("SELECT * FROM audit_checkpoints WHERE service = :s"), {"s": service}
            )
        ).mappings()
    }
    expected, prev, finding = 1, GENESIS_HASH, None
    async for row in _chained(conn, service):
        problem = row_problem(row, expected, prev)
        checkpoint = checkpoints.get(row["sequence"])
        if problem is None and checkpoint is not None:
            problem = checkpoint_problem(keyring, checkpoint)
            if problem is None and bytes(checkpoint["head_hash"]) != bytes(row["hash"]):
                problem = "a signed checkpoint names another hash here (chain rewritten)"
        if problem is not None:
            finding = Finding(service, expected, str(row["event_id"]), problem)
            break
        expected, prev = expected + 1, bytes(row["hash"])
    if finding is None:
        finding = await _tail_problem(conn, service, expected - 1, checkpoints)
    pending = await conn.scalar(
        select(func.count()).where(
            audit_events.c.service == service, audit_events.c.sequence.is_(None)
        )
    )
    return ChainReport(service, expected - 1, len(checkpoints), int(pending or 0), finding)


async def _tail_problem(
    conn: AsyncConnection, service: str, last: int, checkpoints: dict[int, dict[str, Any]]
) -> Finding | None:
    beyond = sorted(s for s in checkpoints if s > last)
    if beyond:
        return Finding(
            service,
            last + 1,
            None,
            f"chain ends at {last} but a checkpoint signs sequence {beyond[0]} "
            "(events deleted at the tail)",
        )
    head = await conn.scalar(
        text("SELECT sequence FROM audit_chain_state WHERE service = :s"), {"s": service}
    )
    if head is not None and head != last:
        return Finding(
            service, min(head, last) + 1, None, f"chain ends at {last} but its head row says {head}"
        )
    return None
