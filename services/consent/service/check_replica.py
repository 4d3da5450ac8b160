"""The guard that lets a read replica answer checks only while it cannot miss a withdrawal.

A check must never say "allowed" after a withdrawal was acknowledged, to any client. The consent
service's writes run with ``synchronous_commit = remote_apply`` (``create_app``), so a commit is
acknowledged only once the synchronous standbys have applied it — as long as the standby really
is one of them. Every ``poll_s`` this guard verifies, on the primary through one of the write
connections: the standby named ``name`` is listed once in ``pg_stat_replication`` with
``sync_state = 'sync'`` (``FIRST n`` semantics; a quorum member reports ``'quorum'`` and is
refused) and the write connections' ``synchronous_commit`` is ``remote_apply``; on the standby:
it is in recovery and has replayed everything the primary had written at the previous poll.

The last condition covers what ``sync_state`` does not: a standby that still streams but has
stopped applying (replay paused, or stuck behind a conflict). Writes then wait for it, and a
commit whose wait is cancelled (``pg_cancel_backend``, or the client's own timeout cancelling
the statement) is committed on the primary although the standby has not applied it; PostgreSQL
acknowledges a wait cancelled that way with only a warning. Within two polls of the write the
guard finds the standby behind and checks read the primary again. That closes the gap for every
write that waits longer than two polls; it is a safety net, not a promise for a cancel that
comes sooner (docs/operations.md).

While any condition fails, or the poll itself fails or times out, checks read the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from services.consent.service.check import CheckService
from services.consent.settings import CheckReplica
from shared.audit.outbox import AuditedTransactions
from shared.db import statements
from shared.db.statements import Statement
from shared.settings import asyncpg_dsn

log = structlog.get_logger("lupa.check")

PRIMARY_FACTS = Statement(
    "SELECT current_setting('synchronous_commit') AS commit_level,"
    " pg_current_wal_lsn()::text AS written,"
    " (SELECT array_agg(sync_state::text) FROM pg_stat_replication"
    "   WHERE application_name = $1) AS states"
)
STANDBY_FACTS = (
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false) AS replayed"
)


class ReplicaGuard:
    """Moves ``service.conns`` to the standby while it is verified safe, back otherwise."""

    def __init__(
        self, service: CheckService, writes: AuditedTransactions, replica: CheckReplica
    ) -> None:
        if service.replica_conns is None:
            raise ValueError("the check service has no replica pool")
        self.service = service
        self.writes = writes  # asked on a write connection: the setting writes really run with
        self.replica = replica
        self.dsn = asyncpg_dsn(replica.url)
        self._standby: Any = None
        self._written: str | None = None  # the primary's WAL position at the previous poll
        self.reason: str = "not_verified_yet"  # "in_use", or why checks read the primary
        self._reported: str | None = None  # the last reason logged, so each is logged once

    async def run(self) -> None:
        """Poll until cancelled; every change of state is logged once."""
        try:
            while True:
                await self.poll()
                await asyncio.sleep(self.replica.poll_s)
        finally:
            await self._drop_standby()

    async def poll(self) -> None:
        try:
            async with asyncio.timeout(self.replica.poll_s):
                reason = await self._unsafe_because()
        except Exception as exc:
            self._written = None  # a gap in the polls: the next one cannot vouch for it
            await self._drop_standby()
            reason = f"poll_failed:{type(exc).__name__}"
        self._apply(reason)

    async def _unsafe_because(self) -> str | None:
        """None if the standby may serve checks, else why not (no personal data)."""
        async with self.writes.single_statements() as conn:
            facts = await statements.fetchrow(conn, PRIMARY_FACTS, self.replica.name)
        assert facts is not None  # a SELECT without FROM answers one row
        previous, self._written = self._written, facts["written"]
        # NULL where the role may not see it (grant it pg_monitor): never taken for "sync".
        states = [state or "hidden" for state in facts["states"] or []]
        if facts["commit_level"] != "remote_apply":
            return f"synchronous_commit_is_{facts['commit_level']}"
        if states != ["sync"]:
            return "not_listed" if not states else f"sync_state_{'_'.join(sorted(states))}"
        if previous is None:
            return "not_verified_yet"  # one more poll: replay is measured against this one
        standby = await self._standby_connection()
        row = await standby.fetchrow(STANDBY_FACTS, previous)
        if not row["in_recovery"]:
            return "not_in_recovery"
        if not row["replayed"]:
            return "replay_behind"
        return None

    def _apply(self, reason: str | None) -> None:
        service = self.service
        if reason is None:
            if not service.replica_in_use:
                assert service.replica_conns is not None
                service.conns = service.replica_conns
                self._reported = None
                log.warning("check_replica_in_use", replica=self.replica.name)
        else:
            was_in_use = service.replica_in_use
            service.conns = service.primary_conns
            if was_in_use or reason not in (self._reported, "not_verified_yet"):
                self._reported = reason
                log.warning(
                    "check_replica_not_synchronous",
                    replica=self.replica.name,
                    reason=reason,
                    checks_read="primary",
                )
        self.reason = reason or "in_use"

    async def _standby_connection(self) -> Any:
        if self._standby is None or self._standby.is_closed():
            self._standby = await asyncpg.connect(
                self.dsn,
                timeout=self.replica.poll_s,
                server_settings={"application_name": "lupa-check-guard"},
            )
        return self._standby

    async def _drop_standby(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None:
            with contextlib.suppress(Exception):
                standby.terminate()
