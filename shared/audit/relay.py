"""The relay: chains each service's outbox, then delivers the chain to its sinks in order.

One relay leads a service at a time (a session-level advisory lock held on its own connection),
so several relays may run for availability without double delivery. Each sink's position is a
durable cursor advanced only after the sink acknowledged: a crash re-sends at most the batch in
flight (at-least-once; JetStream drops those re-sends by ``Nats-Msg-Id``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.audit.chain import chain_pending
from shared.audit.checkpoints import CheckpointPolicy
from shared.audit.config import AuditSettings
from shared.audit.feed import events_after
from shared.audit.nats_sink import NatsSink
from shared.audit.webhook_sink import WebhookSink
from shared.keys import Keyring

log = structlog.get_logger("lupa.relay")

_TRY_LEAD = text("SELECT pg_try_advisory_lock(hashtext('lupa.audit.relay'), hashtext(:service))")
_UNLEAD = text("SELECT pg_advisory_unlock(hashtext('lupa.audit.relay'), hashtext(:service))")
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
        self.policy = CheckpointPolicy(settings.checkpoint_every, settings.checkpoint_seconds)
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
        delivered = await asyncio.gather(self._to_nats(service), self.webhooks.deliver_due(service))
        return chained + sum(delivered)

    async def _to_nats(self, service: str) -> int:
        if self.nats is None:
            return 0
        async with self.engine.connect() as conn:
            cursor = int(
                await conn.scalar(_READ_CURSOR, {"sink": self.nats.name, "service": service})
            )
            await conn.commit()
            events = await events_after(conn, service, cursor, self.settings.delivery_batch)
            await conn.commit()
        if not events:
            return 0
        acked = await self.nats.deliver(service, events)
        if acked:
            async with self.engine.begin() as conn:
                await conn.execute(
                    _ADVANCE,
                    {
                        "sink": self.nats.name,
                        "service": service,
                        "sequence": events[acked - 1]["sequence"],
                    },
                )
        return acked

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
                async with self.engine.connect() as lock:
                    if await self._try_lead(lock, service):
                        await self._relay_while_leader(lock, service, stop, once)
                        await lock.execute(_UNLEAD, {"service": service})
                        return
            except Exception as exc:  # database down: keep trying, never crash the loop
                log.warning("relay_error", service=service, error=type(exc).__name__)
            if once:
                return
            await _wait(stop, self.settings.poll_seconds * 4)

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


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
