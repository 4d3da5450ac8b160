"""Single checks gathered into one statement while earlier statements are in flight.

A check waits only while ``max_in_flight`` statements run: when fewer do, the checks queued so
far leave at once, with no timer. A lone check is the single-subject statement it always was;
checks that queued behind others leave as one statement over all of them
(``check_query.GATHERED``), each row its own subject, purpose and channel. Under load the
per-statement costs (a round trip, the database's parse-bind-execute and its executor start,
asyncpg's call) are shared by tens of checks instead of paid by each.

Nothing is cached or reused: a check's statement is sent after the check arrived, so it reads
a snapshot taken after every write acknowledged before the check was asked, on any process.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.consent.db import check_query
from services.consent.db.check_query import CheckRow
from services.consent.service.check_metrics import GATHERED_SIZES

# Measured on 2 cores with a 16-connection check pool (benchmarks/NOTES.md "Gathered checks").
MAX_GATHERED = 64
MAX_IN_FLIGHT = 2

Wanted = tuple[str, str, str]  # external id, purpose key, channel
Run = Callable[..., Awaitable[Any]]  # CheckService._run: a fetch on a borrowed connection


class GatheredChecks:
    """One per check service (per process and event loop); gathers only this process's checks."""

    def __init__(
        self,
        run: Run,
        deadline: float,
        *,
        max_gathered: int = MAX_GATHERED,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.run = run
        self.deadline = deadline
        self.max_gathered = max_gathered
        self.max_in_flight = max_in_flight
        self._queue: deque[tuple[Wanted, asyncio.Future[CheckRow]]] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def fetch(self, external_id: str, purpose: str, channel: str) -> CheckRow:
        """The facts row of one check, read in the next statement sent."""
        row: asyncio.Future[CheckRow] = asyncio.get_running_loop().create_future()
        self._queue.append(((external_id, purpose, channel), row))
        self._send()
        return await row  # a cancelled caller's check is dropped if not yet sent

    async def close(self) -> None:
        """Wait for the statements in flight (each bounded by the deadline): one whose callers
        all went away still holds a connection, which must be back before the pool closes."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _send(self) -> None:
        while self._queue and len(self._running) < self.max_in_flight:
            taken = self._take()
            if not taken:
                return
            task = asyncio.get_running_loop().create_task(self._read(taken))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._send()

    def _take(self) -> list[tuple[Wanted, asyncio.Future[CheckRow]]]:
        taken: list[tuple[Wanted, asyncio.Future[CheckRow]]] = []
        while self._queue and len(taken) < self.max_gathered:
            item = self._queue.popleft()
            if not item[1].done():  # its caller went away before it was sent
                taken.append(item)
        return taken

    async def _read(self, taken: Sequence[tuple[Wanted, asyncio.Future[CheckRow]]]) -> None:
        GATHERED_SIZES.observe(len(taken))
        try:
            # Bounded like a lone check: a silent database must not hold the slot for ever.
            async with asyncio.timeout(self.deadline):
                if len(taken) == 1:
                    rows = [await self.run(check_query.fetch_one, *taken[0][0])]
                else:
                    rows = await self.run(check_query.fetch_gathered, [w for w, _ in taken])
        except Exception as error:  # every check of the statement fails closed alike ("no")
            for _, row in taken:
                if not row.done():
                    row.set_exception(error)
            return
        except BaseException:  # cancelled (the server stopping): so are its checks
            for _, row in taken:
                row.cancel()
            raise
        for (_, row), facts in zip(taken, rows, strict=True):
            if not row.done():
                row.set_result(facts)
