"""Checks before sending: gather the facts in one statement, decide, and fail closed.

The hot path runs on its own asyncpg pool (no SQLAlchemy session, no transaction dependency).
Its connections carry a short ``statement_timeout``, acquiring one is bounded too, and any
exception on the way becomes ``Unavailable`` with ``allowed: false`` — never a default yes.
Nothing is cached: every check reads the committed projection, so a withdrawal acknowledged by
any process is seen by the very next check on any other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg
import structlog

from services.consent.db import check_query
from services.consent.db.check_query import CheckRow
from services.consent.domain.check import (
    CheckDecision,
    Purpose,
    consent_case,
    decide,
    unavailable,
)
from services.consent.domain.subjects import age_on
from services.consent.service import check_metrics
from services.consent.service.gathered_checks import GatheredChecks
from services.consent.settings import CheckBounds, CheckReplica
from shared.crypto import field_aad, open_sealed, unwrap_data_key
from shared.db.borrowed import BorrowedConnections
from shared.errors import Unavailable
from shared.keys import Keyring, UnknownKey
from shared.settings import Settings, asyncpg_dsn

CHECK_POOL_KEY = "check_pool"
MAX_BATCH = 10_000
log = structlog.get_logger("lupa.check")
_Rows = TypeVar("_Rows")
_UNAVAILABLE = unavailable()
# A batch answer: the decision shared by every subject alike (its own ``evidence`` is None)
# and this subject's evidence beside it.
BatchAnswer = tuple[CheckDecision, uuid.UUID | None]


@dataclass(frozen=True)
class CheckSettings:
    """Bounds of the hot path: a sick database must answer "no" quickly, not queue requests."""

    dsn: str
    pool_size: int = 16
    statement_timeout_ms: int = 1_000
    acquire_timeout_s: float = 1.0
    # A synchronous standby checks may read while the guard finds it safe (check_replica.py).
    replica: CheckReplica | None = None

    @classmethod
    def from_settings(cls, settings: Settings, bounds: CheckBounds) -> CheckSettings:
        return cls(
            dsn=asyncpg_dsn(settings.database.url),
            pool_size=bounds.pool_size or settings.database.pool_size,
            statement_timeout_ms=bounds.statement_timeout_ms,
            acquire_timeout_s=bounds.acquire_timeout_s,
            replica=bounds.replica,
        )


async def create_check_pool(settings: CheckSettings, dsn: str | None = None) -> asyncpg.Pool:
    """A pool that opens connections on demand, so the service starts while the database is down.

    Check connections never change session state (no SET, LISTEN, advisory locks or open
    transactions), so the per-release ``RESET ALL`` round trip asyncpg makes by default is skipped:
    it would double the database round trips of every check.
    """
    return await asyncpg.create_pool(
        dsn or settings.dsn,
        min_size=0,
        max_size=settings.pool_size,
        max_inactive_connection_lifetime=300,
        timeout=settings.acquire_timeout_s,
        reset=_keep_session,
        server_settings={
            "statement_timeout": str(settings.statement_timeout_ms),
            "application_name": "lupa-check",
        },
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset (see ``create_check_pool``); a connection left mid-transaction is closed."""
    if conn.is_in_transaction():
        conn.terminate()


def unavailable_problem() -> Unavailable:
    return Unavailable(
        "Lupa cannot read the consent records right now, so the answer is no. Retry later.",
        allowed=False,
        reasons=["unavailable"],
    )


class CheckService:
    """Checks on the primary's pool, or on a synchronous standby's while ``conns`` points there.

    Only ``check_replica.ReplicaGuard`` moves ``conns`` between ``primary_conns`` and
    ``replica_conns``; a check reads the attribute once, so routing costs it nothing more.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        keyring: Keyring,
        settings: CheckSettings,
        replica_pool: asyncpg.Pool | None = None,
    ) -> None:
        self.pool = pool
        self.primary_conns = BorrowedConnections(pool, settings.pool_size)
        self.replica_conns = (
            None if replica_pool is None else BorrowedConnections(replica_pool, settings.pool_size)
        )
        self.conns = self.primary_conns  # the primary until the guard has verified the standby
        self.keyring = keyring
        self.ages = AgeReader(keyring)
        self.settings = settings
        # One bound on acquiring and querying together, beyond the server's statement_timeout:
        # covers a pool that cannot connect and a silent network too.
        self.deadline = settings.acquire_timeout_s + settings.statement_timeout_ms / 1000 + 0.25
        self.gathered = GatheredChecks(self._run, self.deadline)

    async def check(
        self,
        external_id: str,
        purpose: str,
        channel: str,
        topic: str | None,
        at: datetime | None = None,
    ) -> CheckDecision:
        """One subject; raises ``Unavailable`` (allowed: false) when the facts cannot be read."""
        try:
            async with asyncio.timeout(self.deadline):
                row = await self.gathered.fetch(external_id, purpose, channel)
            terms = check_query.purpose_of(row)
            prefs = check_query.preferences_of(row.preferences, purpose, channel)
            facts = check_query.facts_of(row, terms, prefs, self._age(row, terms))
            decision = decide(facts, channel, topic, at or datetime.now(UTC))
        except Exception as exc:
            log.warning("check_unavailable", exc_type=type(exc).__name__)
            check_metrics.SINGLE.count(_UNAVAILABLE)
            raise unavailable_problem() from None
        check_metrics.SINGLE.count(decision)
        return decision

    async def check_batch(
        self,
        external_ids: Sequence[str],
        purpose: str,
        channel: str,
        topic: str | None,
        at: datetime | None = None,
    ) -> list[BatchAnswer]:
        """Many subjects in one round trip; answers follow the request order.

        The statement gets each distinct id once, sorted, so PostgreSQL walks the index pages in
        order and a duplicate is decided once.
        """
        distinct = sorted(set(external_ids))
        try:
            async with asyncio.timeout(self.deadline * 4):
                rows = await self._run(check_query.fetch_batch, distinct, purpose, channel)
            decided, shapes = self._decide_rows(
                rows, purpose, channel, topic, at or datetime.now(UTC)
            )
            by_id = dict(zip(distinct, decided, strict=True))
            answers = [by_id[external_id] for external_id in external_ids]
        except Exception as exc:
            log.warning("check_unavailable", exc_type=type(exc).__name__, batch=len(external_ids))
            check_metrics.BATCH.count(_UNAVAILABLE, len(external_ids))
            raise unavailable_problem() from None
        check_metrics.BATCH.count_batch(answers, shapes)
        return answers

    async def _run(self, fetch: Callable[..., Awaitable[_Rows]], *args: Any) -> _Rows:
        """``fetch`` on a borrowed connection; a connection that failed is never reused.

        ``conns`` is read once: a connection goes back where it came from even when the guard
        switches between primary and standby meanwhile.
        """
        conns = self.conns
        conn = await conns.acquire()
        try:
            result = await fetch(conn, *args)
        except BaseException:
            conns.discard(conn)
            raise
        conns.release(conn)
        return result

    @property
    def replica_in_use(self) -> bool:
        """Checks are read from the standby right now."""
        return self.conns is self.replica_conns

    async def close(self) -> None:
        """Give borrowed connections back (before the pools close), once no statement runs."""
        await self.gathered.close()
        await self.primary_conns.close()
        if self.replica_conns is not None:
            await self.replica_conns.close()

    def _decide_rows(
        self, rows: list[CheckRow], purpose: str, channel: str, topic: str | None, now: datetime
    ) -> tuple[list[BatchAnswer], set[CheckDecision]]:
        """``decide`` for every row, once per distinct case (``consent_case``); and the
        distinct decisions made.

        Most subjects of a batch share a handful of cases (granted and current, never asked,
        withdrawn...), so the rules run a few times instead of once per subject.
        """
        terms = check_query.purpose_of(rows[0]) if rows else None
        read_consent = check_query.read_consent
        with_age = terms is not None and terms.min_age is not None
        decided: dict[tuple[Any, ...], CheckDecision] = {}
        answers: list[BatchAnswer] = []
        # Unpacked by position (check_query.ROW_FIELDS): this loop runs once per subject.
        for row in rows:
            known, erased, restricted, objected, gpc_at, consent_text, prefs_text, _, _ = row
            consent = read_consent(consent_text) if consent_text is not None else None
            age = self._age(row, terms) if with_age else None
            case = (
                known,
                erased,
                restricted,
                objected,
                consent_case(terms, consent, gpc_at, now),
                prefs_text,
                age,
            )
            decision = decided.get(case)
            if decision is None:
                prefs = check_query.preferences_of(prefs_text, purpose, channel)
                facts = check_query.facts_of(row, terms, prefs, age)
                decision = decide(facts, channel, topic, now)._replace(evidence=None)
                decided[case] = decision
            answers.append((decision, consent.event_id if consent is not None else None))
        return answers, set(decided.values())

    def _age(self, row: CheckRow, terms: Purpose | None) -> int | None:
        if terms is None or terms.min_age is None:
            return None
        sealed = row.sealed_birth_date
        return None if sealed is None else self.ages.age(*sealed)


class AgeReader:
    """Completed years from a sealed birth date; anything unreadable is an unknown age ("no")."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def age(
        self,
        subject_id: uuid.UUID,
        birth_ct: bytes | None,
        kek_id: str | None,
        wrapped: bytes | None,
    ) -> int | None:
        if birth_ct is None or wrapped is None or kek_id is None:
            return None
        try:
            dek = unwrap_data_key(self._kek(kek_id), wrapped, subject_id)
            birth = open_sealed(dek, birth_ct, field_aad(subject_id, "birth_date"))
        except Exception:
            return None
        return age_on(date.fromisoformat(birth.decode()), datetime.now(UTC).date())

    def _kek(self, kek_id: str) -> bytes:
        """A KEK id this process does not know means a rotation: re-read the keyring file."""
        source = self.keyring.source
        try:
            return (source.current() if source else self.keyring).kek(kek_id)
        except UnknownKey:
            return self.keyring.newest().kek(kek_id)
