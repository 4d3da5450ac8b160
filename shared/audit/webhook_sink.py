"""Delivers each service's events to its webhook subscriptions, in order, at least once.

Each subscription has its own cursor (``webhook_deliveries``), so one failing receiver never
holds up another. A failed event is retried with exponential backoff and jitter; after
``webhook_max_attempts`` failures it goes to the dead-letter list and the cursor moves on. A
subscription that cannot be served at all (its secret sealed under a key this keyring lacks, a
database error in its pass) is logged and postponed on its own: the chain and the other
subscriptions go on.
"""

from __future__ import annotations

import asyncio

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.audit import webhook_store as store
from shared.audit.cloudevents import CloudEvent, sequence_of, to_json_bytes
from shared.audit.feed import events_after
from shared.audit.webhook_store import DueSubscription
from shared.audit.webhooks import backoff_seconds, open_secret, post_event
from shared.keys import Keyring, UnknownKey
from shared.settings import AuditSettings

log = structlog.get_logger("lupa.relay.webhooks")


class WebhookSink:
    def __init__(self, engine: AsyncEngine, keyring: Keyring, settings: AuditSettings) -> None:
        self.engine = engine
        self.keyring = keyring
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)

    async def deliver_due(self, service: str) -> int:
        """One pass over every due subscription of ``service``; returns events handled."""
        async with self.engine.connect() as conn:
            subs = await store.due_subscriptions(conn, service)
        done = await asyncio.gather(*(self._isolated(service, s) for s in subs))
        return sum(done)

    async def _isolated(self, service: str, sub: DueSubscription) -> int:
        """One subscription's pass; whatever goes wrong in it stays in it."""
        try:
            return await self._subscription(service, sub)
        except Exception as exc:
            # The error's type only: a message could quote key or secret material.
            error = type(exc).__name__
            log.warning(
                "webhook_subscription_failed",
                subscription=str(sub.id),
                kek=sub.kek_id,
                error=error,
            )
            await self._postpone(sub, error)
            return 0

    async def _postpone(self, sub: DueSubscription, error: str) -> None:
        try:
            async with self.engine.begin() as conn:
                await store.postpone(conn, sub.id, self.settings.webhook_backoff_max, error)
        except Exception as exc:  # the database itself is down: the next pass tries again
            log.warning(
                "webhook_postpone_failed", subscription=str(sub.id), error=type(exc).__name__
            )

    def _secret(self, sub: DueSubscription) -> str:
        """The signing secret; a KEK id this keyring lacks means a rotation since the relay
        started, so the keyring file is re-read once before giving up."""
        try:
            return open_secret(self.keyring, sub.id, sub.kek_id, sub.sealed_secret)
        except UnknownKey:
            self.keyring = self.keyring.newest()
            return open_secret(self.keyring, sub.id, sub.kek_id, sub.sealed_secret)

    async def _subscription(self, service: str, sub: DueSubscription) -> int:
        secret = self._secret(sub)
        replayed = await self._replays(service, sub, secret)
        async with self.engine.connect() as conn:
            events = await events_after(conn, service, sub.sequence, self.settings.delivery_batch)
        cursor, attempts, handled = sub.sequence, sub.attempts, 0
        retry_in, error = 0.0, None
        for event in events:
            if not sub.types or event["type"] in sub.types:
                error = await post_event(
                    self.client, sub.url, secret, str(event["id"]), to_json_bytes(event)
                )
                if error is not None:
                    attempts += 1
                    if attempts < self.settings.webhook_max_attempts:
                        retry_in = backoff_seconds(
                            attempts,
                            self.settings.webhook_backoff_base,
                            self.settings.webhook_backoff_max,
                        )
                        break
                    await self._dead_letter(service, sub, event, attempts, error)
            cursor, attempts, handled, error = sequence_of(event), 0, handled + 1, None
        if events or replayed:
            async with self.engine.begin() as conn:
                await store.save_delivery(conn, sub.id, cursor, attempts, retry_in, error)
        return handled + replayed

    async def _dead_letter(
        self, service: str, sub: DueSubscription, event: CloudEvent, attempts: int, error: str
    ) -> None:
        log.warning(
            "webhook_dead_letter",
            subscription=str(sub.id),
            sequence=sequence_of(event),
            error=error,
        )
        async with self.engine.begin() as conn:
            await store.add_dead_letter(conn, sub.id, service, event, attempts, error)

    async def _replays(self, service: str, sub: DueSubscription, secret: str) -> int:
        async with self.engine.connect() as conn:
            wanted = await store.replays_requested(conn, sub.id)
            events = {}
            for dead in wanted:
                page = await events_after(conn, service, dead.sequence - 1, 1)
                events[dead.id] = page[0]
        for dead_id, event in events.items():
            error = await post_event(
                self.client, sub.url, secret, str(event["id"]), to_json_bytes(event)
            )
            async with self.engine.begin() as conn:
                await store.finish_replay(conn, dead_id, error)
        return len(events)

    async def close(self) -> None:
        await self.client.aclose()
