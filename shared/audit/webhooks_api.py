"""``/v1/audit/webhooks`` and ``/v1/audit/dead-letters``: admin manages webhook subscriptions.

The secret is shown once, on creation; it is stored encrypted under the key-encryption key.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import webhook_store as store
from shared.audit.outbox import AuditEvent, record_event
from shared.audit.webhook_store import DeadLetter, Webhook
from shared.audit.webhooks import is_standard_secret, new_secret, seal_secret
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.errors import InvalidInput, NotFound
from shared.keys import Keyring

# (?!\n): Python's "$" alone would also take the type with a final newline.
EventType = Annotated[str, msgspec.Meta(pattern=r"^fi\.lupa\.[a-z0-9_.]{1,150}(?!\n)$")]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    types: Annotated[list[EventType], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    # Standard Webhooks form: "whsec_" + base64 of at least 24 random bytes (checked below).
    secret: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class WebhookCreated(Webhook, frozen=True):
    """The new subscription with its secret, shown this once."""

    secret: str


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise InvalidInput("The webhook URL must be http(s)://host/... without credentials.")


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
        if data.secret is not None and not is_standard_secret(data.secret):
            raise InvalidInput(
                "The secret must be 'whsec_' followed by base64 of at least 24 random bytes "
                "(or leave it out and Lupa makes one).",
                field="secret",
            )
        sub_id, secret = uuid.uuid4(), data.secret or new_secret()
        service = state["settings"].service
        kek_id, sealed = seal_secret(keyring, sub_id, secret)
        webhook = await store.create_subscription(
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
        return WebhookCreated(**msgspec.structs.asdict(webhook), secret=secret)

    @get("/webhooks", summary="Webhook subscriptions (without their secrets)")
    async def list_webhooks(self, tx: NamedDependency[AsyncSession], state: State) -> list[Webhook]:
        return await store.list_subscriptions(tx, state["settings"].service)

    @delete(
        "/webhooks/{subscription_id:uuid}",
        status_code=204,
        opt={"problems": (404,)},
        summary="Stop a subscription",
    )
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
        return await store.list_dead_letters(tx, state["settings"].service, limit)

    @post(
        "/dead-letters/{dead_letter_id:uuid}/replay",
        status_code=202,
        opt={"problems": (404,)},
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
        dead_letter = await store.request_replay(tx, service, dead_letter_id)
        if dead_letter is None:
            raise NotFound("There is no such dead letter.")
        await record_event(
            tx,
            AuditEvent(
                service=service,
                type="audit.dead_letter.replay_requested",
                subject=None,
                data={
                    "dead_letter": str(dead_letter_id),
                    "event": str(dead_letter.event_id),
                    "actor": principal.actor,
                },
            ),
        )
        return Response(dead_letter, status_code=202)
