"""``/v1/audit/webhooks`` and ``/v1/audit/dead-letters``: admin manages webhook subscriptions.

The secret is shown once, on creation; it is stored encrypted under the key-encryption key.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import webhook_store as store
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhooks import seal_secret
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.errors import InvalidInput, NotFound
from shared.keys import Keyring

EventType = Annotated[str, msgspec.Meta(pattern=r"^fi\.lupa\.[a-z0-9_.]{1,150}$")]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    types: Annotated[list[EventType], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    secret: Annotated[str, msgspec.Meta(min_length=24, max_length=200)] | None = None


class Webhook(msgspec.Struct):
    id: uuid.UUID
    url: str
    types: list[str]
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str


class DeadLetter(msgspec.Struct):
    id: uuid.UUID
    subscription_id: uuid.UUID
    sequence: int
    event_id: uuid.UUID
    attempts: int
    last_error: str | None
    created_at: datetime
    replay_requested_at: datetime | None
    replayed_at: datetime | None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise InvalidInput("The webhook URL must be http(s)://host/... without credentials.")


def _webhook(row: dict[str, Any]) -> Webhook:
    return Webhook(
        id=row["id"], url=row["url"], types=list(row["types"]), created_at=row["created_at"]
    )


class WebhookController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [requires("admin")]

    @post("/webhooks", status_code=201, summary="Subscribe a URL to audit events (signed POSTs)")
    async def create_webhook(
        self,
        tx: NamedDependency[AsyncSession],
        state: State,
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        data: JSONBody[WebhookCreate],
    ) -> WebhookCreated:
        _check_url(data.url)
        sub_id, secret = uuid.uuid4(), data.secret or secrets.token_urlsafe(32)
        service = state["settings"].service
        kek_id, sealed = seal_secret(keyring, sub_id, secret)
        row = await store.create_subscription(
            tx, sub_id, service, data.url, data.types, kek_id, sealed
        )
        await record_event(
            tx,
            AuditEvent(
                service=service,
                type="audit.webhook.created",
                subject=None,
                data={"subscription": str(sub_id), "types": data.types, "actor": principal.actor},
            ),
        )
        return WebhookCreated(**msgspec.structs.asdict(_webhook(row)), secret=secret)

    @get("/webhooks", summary="Webhook subscriptions (without their secrets)")
    async def list_webhooks(self, tx: NamedDependency[AsyncSession], state: State) -> list[Webhook]:
        return [_webhook(r) for r in await store.list_subscriptions(tx, state["settings"].service)]

    @delete("/webhooks/{subscription_id:uuid}", status_code=204, summary="Stop a subscription")
    async def delete_webhook(
        self,
        tx: NamedDependency[AsyncSession],
        state: State,
        principal: NamedDependency[Principal],
        subscription_id: FromPath[uuid.UUID],
    ) -> None:
        service = state["settings"].service
        if not await store.delete_subscription(tx, service, subscription_id):
            raise NotFound("There is no such webhook subscription.")
        await record_event(
            tx,
            AuditEvent(
                service=service,
                type="audit.webhook.deleted",
                subject=None,
                data={"subscription": str(subscription_id), "actor": principal.actor},
            ),
        )

    @get("/dead-letters", summary="Deliveries that failed every retry, newest first")
    async def list_dead_letters(
        self,
        tx: NamedDependency[AsyncSession],
        state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[DeadLetter]:
        rows = await store.list_dead_letters(tx, state["settings"].service, limit)
        return [msgspec.convert(r, DeadLetter, from_attributes=False) for r in rows]

    @post(
        "/dead-letters/{dead_letter_id:uuid}/replay",
        status_code=202,
        summary="Send a dead letter again (the relay retries it once)",
    )
    async def replay_dead_letter(
        self,
        tx: NamedDependency[AsyncSession],
        state: State,
        principal: NamedDependency[Principal],
        dead_letter_id: FromPath[uuid.UUID],
    ) -> Response[DeadLetter]:
        service = state["settings"].service
        row = await store.request_replay(tx, service, dead_letter_id)
        if row is None:
            raise NotFound("There is no such dead letter.")
        await record_event(
            tx,
            AuditEvent(
                service=service,
                type="audit.dead_letter.replay_requested",
                subject=None,
                data={
                    "dead_letter": str(dead_letter_id),
                    "event": str(row["event_id"]),
                    "actor": principal.actor,
                },
            ),
        )
        return Response(msgspec.convert(row, DeadLetter), status_code=202)
