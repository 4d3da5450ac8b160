"""Pool connections handed from one use to the next without asyncpg's per-use pool cost: the
check path's and the hot write path's."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import asyncpg


class BorrowedConnections:
    """Pool connections kept checked out and handed from one use to the next directly.

    asyncpg's acquire/release costs a queue round, a reset coroutine under a timeout and a
    shielded task per use: ~15% of a check's CPU. Here a connection used cleanly goes straight
    to the next waiting user or onto a free list; at most ``size`` are borrowed. A connection
    that failed mid-use is terminated (which hands its slot back to the pool, opening a fresh
    one on demand), so a sick database never leaves a broken connection in circulation.
    """

    def __init__(self, pool: asyncpg.Pool, size: int) -> None:
        self.pool, self.size = pool, size
        self._free: list[Any] = []
        self._borrowed = 0  # free + in use
        self._waiters: deque[asyncio.Future[Any]] = deque()

    async def acquire(self) -> Any:
        while True:
            while self._free:
                conn = self._free.pop()
                if _usable(conn):
                    return conn
                self.discard(conn)
            if self._borrowed < self.size:
                self._borrowed += 1
                try:
                    return await self.pool.acquire()
                except BaseException:
                    self._borrowed -= 1
                    self._wake(None)
                    raise
            conn = await self._wait()
            if conn is not None:
                return conn
            # None: a slot came free; loop to borrow it (or wait again if taken meanwhile).

    async def _wait(self) -> Any:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            # Cancelled (the check's deadline): what was handed over must not be lost.
            if waiter.done() and not waiter.cancelled():
                if (handed := waiter.result()) is not None:
                    self.release(handed)
                else:
                    self._wake(None)
            raise

    def release(self, conn: Any) -> None:
        """A connection used cleanly: to the next waiting check, or onto the free list."""
        if not _usable(conn) or conn.is_in_transaction():
            self.discard(conn)
        elif not self._wake(conn):
            self._free.append(conn)

    def discard(self, conn: Any) -> None:
        """A connection that failed or broke: terminate it; its slot goes to the next waiter."""
        with contextlib.suppress(asyncpg.InterfaceError):  # already handed back by asyncpg
            conn.terminate()
        self._borrowed -= 1
        self._wake(None)

    def _wake(self, conn: Any) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def close(self) -> None:
        """Give the free connections back to the pool (before ``pool.close``)."""
        free, self._free = self._free, []
        for conn in free:
            self._borrowed -= 1
            if _usable(conn):
                await self.pool.release(conn)

    @property
    def borrowed(self) -> int:
        """Connections taken from the pool: free ones and those in use."""
        return self._borrowed


def _usable(conn: Any) -> bool:
    """Open and still ours: asyncpg detaches a pooled connection the server closed."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False
