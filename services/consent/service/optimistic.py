"""Optimistic grants and withdrawals, gathered into batches (group commit).

A write waits only while earlier batches are in flight: when fewer than ``max_in_flight`` are,
the writes queued so far leave at once as one batch, with no timer. A batch is two statements
however many writes it holds (``services.consent.db.optimistic``): the facts of all of them read
without a lock, each decided in Python by ``ConsentRecorder.plan`` as the locked path decides
it, then every append written in one statement, each only if its subject and state are still
as read. At low load a batch is a single write; under load the per-statement costs (round
trips, the database's executor start, its statement triggers and commit) are shared.

Each write of a batch has its own outcome: its answer, a refusal (``LupaError``, for the
handler to answer), or None when its read went stale, or the batch's statement failed as a
whole, with nothing of it written: the caller then records it under the subject's lock.

A write with an ``Idempotency-Key`` comes with its claim. A batch holding such writes appends
in one transaction that also claims their keys first and stores each written one's response
before it commits, so a stored response always matches a committed write, as on the locked
path (``shared.idempotency``). A write whose key is already held (a retry, a reuse, a request
still running) is not written here: None, and the locked path answers it from the key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

import asyncpg
import msgspec

from services.consent.db import optimistic as repo
from services.consent.db.ledger import ConsentStateRow, PendingAppend, ReadVersion, StoredEvent
from services.consent.domain.consents import ConsentRequest
from services.consent.service.consents import ConsentRecorded, ConsentRecorder, PlannedWrite
from services.consent.service.evidence import Evidence
from services.consent.service.receipts import LedgerContext
from services.consent.service.write_metrics import WRITES
from shared.audit.outbox import AuditedTransactions
from shared.db.statements import SingleStatements
from shared.errors import LupaError
from shared.idempotency_store import Claim, claim_many, settle_many
from shared.keys import Keyring

# The batch sizes and concurrency measured best on 2 cores with a 10-connection write pool
# (benchmarks/NOTES.md "Batched optimistic writes").
MAX_BATCH = 32
MAX_IN_FLIGHT = 3

Outcome = ConsentRecorded | LupaError | None
Stored = tuple[StoredEvent, ConsentStateRow]
_ENCODE = msgspec.json.Encoder().encode  # the answer as sent, for the key's stored response


@dataclass(eq=False, slots=True)
class _Wanted:
    external_id: str
    request: ConsentRequest
    evidence: Evidence
    actor: str
    claim: Claim | None
    answer: asyncio.Future[Outcome] = field(repr=False)


class OptimisticWrites:
    """One per process: writes are gathered per event loop's worker, never across replicas;
    what keeps two writers of one subject apart is the database (``db.optimistic``)."""

    def __init__(
        self,
        transactions: AuditedTransactions,
        keyring: Keyring,
        context: LedgerContext,
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.transactions = transactions
        self.keyring = keyring
        self.context = context
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._queue: deque[_Wanted] = deque()
        self._running: dict[asyncio.Task[None], set[str]] = {}  # batches in flight: subjects

    async def record(
        self,
        external_id: str,
        request: ConsentRequest,
        evidence: Evidence,
        actor: str,
        claim: Claim | None = None,
    ) -> ConsentRecorded | None:
        """The write, recorded optimistically in the next batch (and its response stored under
        ``claim``'s key); None, with nothing written, if it must be recorded under the lock
        instead. Raises the refusal (``LupaError``) the locked path would raise on the same
        facts."""
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Wanted(external_id, request, evidence, actor, claim, answer))
        self._send()
        outcome = await answer  # a cancelled caller's write is dropped if not yet sent
        if isinstance(outcome, LupaError):
            raise outcome
        return outcome

    def _send(self) -> None:
        while self._queue and len(self._running) < self.max_in_flight:
            batch = self._take()
            if not batch:
                return
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running[task] = {wanted.external_id for wanted in batch}
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        del self._running[task]
        self._send()

    def _take(self) -> list[_Wanted]:
        """Up to ``max_batch`` queued writes, in order, one per subject and none of a subject
        in flight: a later write of a subject waits for the batch after the one holding its
        earlier write (decided on the same read, it would only find that read stale)."""
        batch: list[_Wanted] = []
        taken: set[str] = set().union(*self._running.values())
        kept: deque[_Wanted] = deque()
        while self._queue:
            wanted = self._queue.popleft()
            if wanted.answer.done():  # its caller went away before it was sent
                continue
            if len(batch) == self.max_batch or wanted.external_id in taken:
                kept.append(wanted)
                continue
            taken.add(wanted.external_id)
            batch.append(wanted)
        self._queue = kept
        return batch

    async def _run(self, batch: list[_Wanted]) -> None:
        WRITES.batch(len(batch))
        try:
            outcomes = await self._record(batch)
        except asyncpg.PostgresError:
            # A statement refused as a whole (e.g. a deadlock, or one row breaking a
            # constraint) wrote nothing: every write goes under the lock, one by one.
            WRITES.outcome("batch_refused", len(batch))
            outcomes = [None] * len(batch)
        except Exception as error:  # the connection failed or timed out: as for one write
            WRITES.outcome("error", len(batch))
            for wanted in batch:
                if not wanted.answer.done():
                    wanted.answer.set_exception(error)
            return
        except BaseException:  # cancelled (the server stopping): so are its writes
            for wanted in batch:
                wanted.answer.cancel()
            raise
        for wanted, outcome in zip(batch, outcomes, strict=True):
            if not wanted.answer.done():
                wanted.answer.set_result(outcome)

    async def _record(self, batch: list[_Wanted]) -> list[Outcome]:
        outcomes: list[Outcome] = [None] * len(batch)
        async with self.transactions.single_statements() as statements:
            found = await repo.read_many_for_write(
                statements,
                [(w.external_id, w.request.purpose, w.request.channel) for w in batch],
            )
            recorder = ConsentRecorder(statements, self.keyring, self.context)
            planned: list[tuple[int, PlannedWrite]] = []
            for n, (wanted, facts) in enumerate(zip(batch, found, strict=True)):
                try:
                    plan = await recorder.plan(facts, wanted.request, wanted.evidence, wanted.actor)
                except LupaError as refused:
                    WRITES.outcome("refused")
                    outcomes[n] = refused
                else:
                    planned.append((n, plan))
            if not planned:
                return outcomes
            keyed = any(batch[n].claim is not None for n, _ in planned)
            # With keys, one transaction: the claims, the appends and the stored answers
            # commit together or not at all. Without, the append commits alone.
            async with statements.driver.transaction() if keyed else contextlib.nullcontext():
                if keyed:
                    planned = await self._claim_keys(statements, batch, planned)
                written = await self._append(statements, planned)
                for (n, plan), stored in zip(planned, written, strict=True):
                    if stored is not None:
                        outcomes[n] = recorder.recorded(plan, *stored)
                if keyed:
                    await self._settle_keys(statements, batch, planned, outcomes)
        written_count = sum(stored is not None for stored in written)
        WRITES.outcome("written", written_count)
        WRITES.outcome("stale", len(planned) - written_count)
        return outcomes

    @staticmethod
    async def _append(
        statements: SingleStatements, planned: list[tuple[int, PlannedWrite]]
    ) -> list[Stored | None]:
        if not planned:
            return []
        appends: list[tuple[PendingAppend, ReadVersion]] = []
        for _, plan in planned:
            assert plan.read_at is not None  # read_many_for_write sets it
            appends.append((plan.pending, plan.read_at))
        return await repo.append_if_current(statements, appends)

    @staticmethod
    async def _claim_keys(
        statements: SingleStatements, batch: list[_Wanted], planned: list[tuple[int, PlannedWrite]]
    ) -> list[tuple[int, PlannedWrite]]:
        """The planned writes that may be appended: unkeyed, or whose key this claims now.
        A write whose key is held already is left to the locked path, which answers it from
        the key (the stored response, a reuse, or one still running)."""
        keyed = [(n, claim) for n, _ in planned if (claim := batch[n].claim) is not None]
        taken = await claim_many(statements, [claim for _, claim in keyed])
        held = {n for (n, _), ok in zip(keyed, taken, strict=True) if not ok}
        WRITES.outcome("key_in_use", len(held))
        return [(n, plan) for n, plan in planned if n not in held]

    @staticmethod
    async def _settle_keys(
        statements: SingleStatements,
        batch: list[_Wanted],
        planned: list[tuple[int, PlannedWrite]],
        outcomes: list[Outcome],
    ) -> None:
        """Store the answer of every keyed write made; let go of the keys of those not made
        (stale: the locked path claims the key again when it records them)."""
        remembered: list[tuple[Claim, int, str]] = []
        let_go: list[Claim] = []
        for n, _ in planned:
            claim, answer = batch[n].claim, outcomes[n]
            if claim is None:
                continue
            if isinstance(answer, ConsentRecorded):
                remembered.append((claim, 201, _ENCODE(answer).decode()))
            else:
                let_go.append(claim)
        await settle_many(statements, remembered, let_go)
