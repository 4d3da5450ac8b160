"""The relay: chains each service's outbox, then delivers the chain to its sinks in order.

One relay leads a service at a time (a session-level advisory lock held on a connection of its
own for the whole lease), so several relays may run for availability without double delivery.
Each sink's position is a durable cursor advanced only after the sink acknowledged: a crash
re-sends at most the batch in flight (at-least-once; JetStream drops those re-sends by
``Nats-Msg-Id``). Signed checkpoints follow the events they sign, on a cursor of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.audit.chain import chain_pending
from shared.audit.checkpoints import CheckpointPolicy, checkpoints_after
from shared.audit.cloudevents import sequence_of
from shared.audit.feed import events_after
from shared.audit.nats_sink import NatsSink
from shared.audit.webhook_sink import WebhookSink
from shared.keys import Keyring
from shared.settings import AuditSettings

log = structlog.get_logger("lupa.relay")

_TRY_LEAD = text("SELECT pg_try_advisory_lock(hashtext('lupa.audit.relay'), hashtext(:service))")
_READ_CURSOR = text("""
    WITH ins AS (INSERT INTO audit_relay_cursors (sink, service) VALUES (:sink, :service)
                 ON CONFLICT DO NOTHING RETURNING sequence)
    SELECT sequence FROM ins UNION ALL
    SELECT sequence FROM audit_relay_cursors WHERE sink = :sink AND service = :service
""")
_ADVANCE = text(
    "UPDATE audit_relay_cursors SET sequence = :sequence, updated_at = now() "
    "WHERE sink = :sink AND service = :service AND sequence < :sequence"
)
CHECKPOINT_SINK_SUFFIX = ".checkpoints"


class Relay:
    def __init__(
        self,
        engine: AsyncEngine,
        keyring: Keyring,
        settings: AuditSettings,
        services: Sequence[str],
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.settings = settings
        self.services = tuple(services)
        self.policy = CheckpointPolicy.of(settings)
        self.nats = (
            NatsSink(settings.nats_url, settings.nats_stream, settings.nats_duplicate_window)
            if settings.nats_url
            else None
        )
        self.webhooks = WebhookSink(engine, keyring, settings)

    async def step(self, service: str) -> int:
        """Chain, then one delivery round to every sink; returns how much progress was made."""
        chained = await chain_pending(
            self.engine,
            service,
            keyring=self.keyring,
            policy=self.policy,
            batch=self.settings.chain_batch,
        )
        # Both sinks finish their round before a failure of either is raised.
        delivered = await asyncio.gather(
            self._to_nats(service), self.webhooks.deliver_due(service), return_exceptions=True
        )
        for outcome in delivered:
            if isinstance(outcome, BaseException):
                raise outcome
        return chained + sum(d for d in delivered if isinstance(d, int))

    async def _to_nats(self, service: str) -> int:
        if self.nats is None:
            return 0
        return await self._events_to_nats(service) + await self._checkpoints_to_nats(service)

    async def _events_to_nats(self, service: str) -> int:
        assert self.nats is not None
        async with self.engine.connect() as conn:
            cursor = await _read_cursor(conn, self.nats.name, service)
            events = await events_after(conn, service, cursor, self.settings.delivery_batch)
            await conn.commit()
        if not events:
            return 0
        acked = await self.nats.deliver(service, events)
        if acked:
            await self._advance(self.nats.name, service, sequence_of(events[acked - 1]))
        return acked

    async def _checkpoints_to_nats(self, service: str) -> int:
        """Checkpoints whose events NATS already holds (a checkpoint never precedes its head)."""
        assert self.nats is not None
        sink = self.nats.name + CHECKPOINT_SINK_SUFFIX
        async with self.engine.connect() as conn:
            delivered = await _read_cursor(conn, self.nats.name, service)
            cursor = await _read_cursor(conn, sink, service)
            found = await checkpoints_after(
                conn, service, cursor, self.settings.delivery_batch, upto=delivered
            )
            await conn.commit()
        if not found:
            return 0
        acked = await self.nats.deliver_checkpoints(service, found)
        if acked:
            await self._advance(sink, service, found[acked - 1]["sequence"])
        return acked

    async def _advance(self, sink: str, service: str, sequence: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_ADVANCE, {"sink": sink, "service": service, "sequence": sequence})

    async def drain(self, service: str, max_steps: int = 10_000) -> None:
        """Step until a step makes no progress (``lupa relay --once``)."""
        for _ in range(max_steps):
            if await self.step(service) == 0:
                return

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> None:
        try:
            await asyncio.gather(*(self._lead(service, stop, once) for service in self.services))
        finally:
            await self.close()

    async def _lead(self, service: str, stop: asyncio.Event, once: bool) -> None:
        """Become leader for ``service`` (or wait for the leader to go), then relay it."""
        while not stop.is_set():
            try:
                await self._lease(service, stop, once)
            except Exception as exc:  # database down, a sink failing: never crash the loop
                log.warning("relay_error", service=service, error=type(exc).__name__)
            if once:
                return
            await _wait(stop, self.settings.poll_seconds * 4)

    async def _lease(self, service: str, stop: asyncio.Event, once: bool) -> None:
        """Relay ``service`` for as long as this process holds its leader lock.

        The lock belongs to the connection's session, so when the lease ends, however it ends,
        that connection is closed rather than handed back to the pool: the server drops the
        lock with it, and no pooled connection can keep it (stalling every other relay) or take
        it a second time (so that one unlock would not release it).
        """
        async with self.engine.connect() as lock:
            held = True  # until the server says no: a failure in between may have taken it
            try:
                held = await self._try_lead(lock, service)
                if held:
                    await self._relay_while_leader(lock, service, stop, once)
            finally:
                if held:
                    await lock.invalidate()

    async def _try_lead(self, lock: AsyncConnection, service: str) -> bool:
        leading = bool(await lock.scalar(_TRY_LEAD, {"service": service}))
        await lock.commit()  # the advisory lock is session-level: it outlives the transaction
        return leading

    async def _relay_while_leader(
        self, lock: AsyncConnection, service: str, stop: asyncio.Event, once: bool
    ) -> None:
        log.info("relay_leading", service=service)
        if once:
            await self.drain(service)
            return
        while not stop.is_set():
            progress = await self.step(service)
            await lock.execute(text("SELECT 1"))  # lost the lock connection: give up leading
            await lock.commit()
            if progress == 0:
                await _wait(stop, self.settings.poll_seconds)

    async def close(self) -> None:
        if self.nats is not None:
            await self.nats.close()
        await self.webhooks.close()


async def _read_cursor(conn: AsyncConnection, sink: str, service: str) -> int:
    """The sink's durable position in the chain (created at 0 on first use)."""
    cursor = int(await conn.scalar(_READ_CURSOR, {"sink": sink, "service": service}))
    await conn.commit()
    return cursor


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
