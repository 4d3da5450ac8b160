"""Recompute a service's hash chain and check its signed checkpoints; name the first bad event.

Checkpoints come from the database and, optionally, from copies kept elsewhere (exported with
``lupa audit checkpoints``, read from the feed or from NATS). Only a kept copy catches someone
who rewrote the chain, recomputed every hash and deleted the checkpoint rows that disagreed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.audit.chain import event_hash
from shared.audit.checkpoints import (
    CheckpointRow,
    checkpoint_problem,
    signed_head,
    stored_checkpoints,
)
from shared.audit.cloudevents import GENESIS_HASH, StoredEvent
from shared.audit.feed import stored_events_after
from shared.auth.tokens import InvalidToken
from shared.db.tables import audit_events
from shared.keys import Keyring
from shared.progress import Counter

TICK = 1000  # rows between progress updates

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
    kept: int = 0  # checkpoints kept outside the database that were checked
    start: int = 0  # the signed checkpoint the walk started from (0: the genesis)


class NoCheckpoint(Exception):
    """``start`` names no sequence a valid signed checkpoint covers: nothing to resume from."""


async def _chained(
    conn: AsyncConnection, service: str, start: int = 0
) -> AsyncIterator[StoredEvent]:
    after: int | None = start
    while after is not None:
        page = await stored_events_after(conn, service, after, PAGE)
        for row in page:
            yield row
        after = page[-1].sequence if len(page) == PAGE else None


def row_problem(row: StoredEvent, expected: int, prev: bytes) -> str | None:
    """What is wrong with one chained row, given the sequence and prev hash it should have."""
    sequence = row.sequence
    assert sequence is not None, "read back by sequence, so chained"
    if sequence != expected:
        return (
            f"sequence {expected} to {sequence - 1} missing (deleted or renumbered)"
            if sequence > expected
            else "sequence out of order"
        )
    if row.prev_hash != prev:
        return f"prev_hash does not match event {expected - 1} (re-ordered or inserted)"
    if event_hash(row) != row.hash:
        return "content does not match its hash (altered)"
    return None


def kept_heads(
    keyring: Keyring, service: str, kept: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, bytes], Finding | None]:
    """The head each kept checkpoint of ``service`` signs, by sequence.

    A kept line is whatever JSON the operator kept, hence a plain Mapping: only what its
    token's signature covers is believed, its other fields are ignored.
    """
    heads: dict[int, bytes] = {}
    for item in kept:
        if item.get("service") != service:
            continue
        try:
            signed = signed_head(keyring, str(item.get("token", "")))
            if signed.service != service:
                raise InvalidToken("signed for another service")
        except InvalidToken as exc:
            problem = f"a kept checkpoint does not verify ({exc})"
            return heads, Finding(service, int(item.get("sequence") or 0), None, problem)
        heads[signed.sequence] = signed.head
    return heads, None


def _checkpoint_problem(
    keyring: Keyring, row: StoredEvent, stored: CheckpointRow | None, kept: bytes | None
) -> str | None:
    """What the checkpoints at this row's sequence (stored, kept) say against it."""
    if stored is not None:
        problem = checkpoint_problem(keyring, stored)
        if problem is None and stored.head_hash != row.hash:
            problem = "a signed checkpoint names another hash here (chain rewritten)"
        if problem is not None:
            return problem
    if kept is not None and kept != row.hash:
        return "a kept checkpoint names another hash here (chain rewritten)"
    return None


async def verify_chain(
    conn: AsyncConnection,
    service: str,
    keyring: Keyring,
    kept: Sequence[Mapping[str, Any]] = (),
    *,
    start: int = 0,
    bar: Counter | None = None,
) -> ChainReport:
    """Walk the chain in sequence order; stop at the first problem.

    ``kept``: checkpoints kept outside the database (as ``public_checkpoint`` gives them).
    ``start``: begin after this sequence, from the head a signed checkpoint (stored or kept)
    gives it; sound for what follows, since the signature pins every event up to it, but it
    trusts an earlier run for the events before it. ``bar`` counts the rows walked.
    """
    stored = {r.sequence: r for r in await stored_checkpoints(conn, service)}
    pinned, finding = kept_heads(keyring, service, kept)
    last = start
    if finding is None:
        origin = _signed_head_at(keyring, service, start, stored, pinned)
        walk = _Walk(service, keyring, stored, pinned, bar or Counter(service, None))
        last, finding = await walk.run(conn, start, origin)
    if finding is None:
        finding = await _tail_problem(conn, service, last, [*stored, *pinned])
    pending = await conn.scalar(
        select(func.count()).where(
            audit_events.c.service == service, audit_events.c.sequence.is_(None)
        )
    )
    return ChainReport(
        service, last, len(stored), int(pending or 0), finding, kept=len(pinned), start=start
    )


async def chain_head(conn: AsyncConnection, service: str) -> int:
    """The last chained sequence as the chain's head row records it (a cheap total)."""
    head = await conn.scalar(
        text("SELECT sequence FROM audit_chain_state WHERE service = :s"), {"s": service}
    )
    return int(head or 0)


def _signed_head_at(
    keyring: Keyring,
    service: str,
    start: int,
    stored: dict[int, CheckpointRow],
    pinned: dict[int, bytes],
) -> bytes:
    if start == 0:
        return GENESIS_HASH
    if start in pinned:
        return pinned[start]  # its signature was checked by kept_heads
    row = stored.get(start)
    if row is None or checkpoint_problem(keyring, row) is not None:
        raise NoCheckpoint(f"{service} has no valid signed checkpoint at sequence {start}")
    return row.head_hash


class _Walk:
    """One pass over a chain; sets the bar's ``resume`` at each signed checkpoint it passes."""

    def __init__(
        self,
        service: str,
        keyring: Keyring,
        stored: dict[int, CheckpointRow],
        pinned: dict[int, bytes],
        bar: Counter,
    ) -> None:
        self.service, self.keyring = service, keyring
        self.stored, self.pinned, self.bar = stored, pinned, bar

    async def run(
        self, conn: AsyncConnection, start: int, origin: bytes
    ) -> tuple[int, Finding | None]:
        """The last intact sequence, and the first problem after it (None if there is none)."""
        expected, prev, unreported = start + 1, origin, 0
        async for row in _chained(conn, self.service, start):
            stored, pinned = self.stored.get(expected), self.pinned.get(expected)
            problem = row_problem(row, expected, prev) or _checkpoint_problem(
                self.keyring, row, stored, pinned
            )
            if problem is not None:
                self.bar.advance(unreported)
                return expected - 1, Finding(self.service, expected, str(row.event_id), problem)
            assert row.hash is not None, "row_problem found it equal to the row's own hash"
            if stored is not None or pinned is not None:
                self.bar.resume = resume_hint(self.service, expected)
            unreported += 1
            if unreported == TICK:
                self.bar.advance(unreported)
                unreported = 0
            expected, prev = expected + 1, row.hash
        self.bar.advance(unreported)
        return expected - 1, None


def resume_hint(service: str, sequence: int) -> str:
    return (
        f"run `lupa audit verify --service {service} --after {sequence}` to continue from the "
        "last signed checkpoint verified"
    )


async def _tail_problem(
    conn: AsyncConnection, service: str, last: int, signed: list[int]
) -> Finding | None:
    beyond = sorted(s for s in signed if s > last)
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
