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
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import asyncpg

from services.consent.db import optimistic as repo
from services.consent.db.ledger import PendingAppend, ReadVersion
from services.consent.domain.consents import ConsentRequest
from services.consent.service.consents import ConsentRecorded, ConsentRecorder, PlannedWrite
from services.consent.service.evidence import Evidence
from services.consent.service.receipts import LedgerContext
from services.consent.service.write_metrics import WRITES
from shared.audit.outbox import AuditedTransactions
from shared.errors import LupaError
from shared.keys import Keyring

# The batch sizes and concurrency measured best on 2 cores with a 10-connection write pool
# (benchmarks/NOTES.md "Batched optimistic writes").
MAX_BATCH = 32
MAX_IN_FLIGHT = 3

Outcome = ConsentRecorded | LupaError | None


@dataclass(eq=False, slots=True)
class _Wanted:
    external_id: str
    request: ConsentRequest
    evidence: Evidence
    actor: str
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
        self, external_id: str, request: ConsentRequest, evidence: Evidence, actor: str
    ) -> ConsentRecorded | None:
        """The write, recorded optimistically in the next batch; None, with nothing written,
        if it must be recorded under the lock instead. Raises the refusal (``LupaError``) the
        locked path would raise on the same facts."""
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Wanted(external_id, request, evidence, actor, answer))
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
            appends: list[tuple[PendingAppend, ReadVersion]] = []
            for _, plan in planned:
                assert plan.read_at is not None  # read_many_for_write sets it
                appends.append((plan.pending, plan.read_at))
            written = await repo.append_if_current(statements, appends)
        for (n, plan), stored in zip(planned, written, strict=True):
            if stored is not None:
                outcomes[n] = recorder.recorded(plan, *stored)
        written_count = sum(stored is not None for stored in written)
        WRITES.outcome("written", written_count)
        WRITES.outcome("stale", len(planned) - written_count)
        return outcomes
