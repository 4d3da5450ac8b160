"""``/v1/audit``: the CX feed of audit events and of signed checkpoints (both cursor-paged), and
a live Server-Sent Events view.

All chain pending events first (signing checkpoints as configured by ``LUPA_AUDIT_*``), so the
feed moves on even when no relay is running.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from shared.audit.chain import chain_pending
from shared.audit.checkpoints import CheckpointPolicy, checkpoints_after
from shared.audit.cloudevents import CloudEvent, sequence_of
from shared.audit.feed import EventFilter, events_after
from shared.audit.webhooks_api import WebhookController
from shared.auth.guards import requires
from shared.errors import InvalidInput
from shared.health import ENGINE_KEY
from shared.settings import AuditSettings

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Events per page (default 100)")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=20, description="`next` of the previous page")
]
TypeFilter = Annotated[
    str | None, QueryParameter(name="type", max_length=200, description="Only this event type")
]
SubjectFilter = Annotated[
    str | None, QueryParameter(max_length=200, description="Only this pseudonymous subject")
]


# The pages hold the JSON documents themselves (CloudEvent, PublicCheckpoint), declared as
# plain objects: that is how the OpenAPI schema has always described them.
class AuditPage(msgspec.Struct):
    events: Sequence[Mapping[str, Any]]
    next: str


class CheckpointPage(msgspec.Struct):
    checkpoints: Sequence[Mapping[str, Any]]
    next: str


def next_cursor(page: Sequence[Mapping[str, Any]], start: int) -> str:
    """The cursor after a page: its last sequence, or ``start`` again when it is empty (a
    number as text; an event's zero-padded ``sequence`` is a cursor too)."""
    return str(int(page[-1]["sequence"]) if page else start)


def parse_cursor(cursor: str | None) -> int:
    """Cursors are sequences as text; anything else is rejected without touching anything."""
    if cursor is None or cursor == "":
        return 0
    if not cursor.isascii() or not cursor.isdigit():
        raise InvalidInput("The cursor is not one this feed handed out.")
    return int(cursor)


def audit_settings(state: State) -> AuditSettings:
    """The audit settings the app was built with (``Settings.audit``, read once at start-up)."""
    settings: AuditSettings = state["settings"].audit
    return settings


async def _chain(state: State) -> None:
    settings = audit_settings(state)
    await chain_pending(
        state[ENGINE_KEY],
        state["settings"].service,
        keyring=state["keyring"],
        policy=CheckpointPolicy.of(settings),
        batch=settings.chain_batch,
    )


async def _chained_events(
    state: State, after: int, limit: int, only: EventFilter
) -> list[CloudEvent]:
    """Chain what is pending, then read up to ``limit`` events after ``after``."""
    await _chain(state)
    async with state[ENGINE_KEY].connect() as conn:
        return await events_after(conn, state["settings"].service, after, limit, only)


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    guards = [requires("cx", "admin")]

    @get("/events", summary="Audit events as CloudEvents, oldest first, paged by cursor")
    async def list_events(
        self,
        state: State,
        after: Cursor = None,
        limit: Limit = 100,
        event_type: TypeFilter = None,
        subject: SubjectFilter = None,
    ) -> AuditPage:
        start = parse_cursor(after)
        events = await _chained_events(state, start, limit, EventFilter(event_type, subject))
        return AuditPage(events=events, next=next_cursor(events, start))

    @get(
        "/checkpoints",
        summary="Signed chain heads (JWS), oldest first, paged by cursor: keep them off-site",
    )
    async def list_checkpoints(
        self, state: State, after: Cursor = None, limit: Limit = 100
    ) -> CheckpointPage:
        start = parse_cursor(after)
        await _chain(state)
        async with state[ENGINE_KEY].connect() as conn:
            found = await checkpoints_after(conn, state["settings"].service, start, limit)
        return CheckpointPage(checkpoints=found, next=next_cursor(found, start))

    @get(
        "/stream",
        opt={"media_types": ("text/event-stream",)},
        summary="Live audit events (Server-Sent Events); resumes after Last-Event-ID",
    )
    async def stream_events(
        self,
        request: Request[Any, Any, Any],
        state: State,
        after: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100_000)] = 10_000,
        max_seconds: Annotated[float, QueryParameter(ge=0, le=3600)] = 300,
        event_type: TypeFilter = None,
        subject: SubjectFilter = None,
    ) -> ServerSentEvent:
        start = parse_cursor(request.headers.get("last-event-id") or after)
        only = EventFilter(event_type, subject)
        return ServerSentEvent(_live(state, start, limit, max_seconds, only))


async def _live(
    state: State, after: int, limit: int, max_seconds: float, only: EventFilter
) -> AsyncIterator[ServerSentEventMessage]:
    """Events after ``after`` as they are chained, until ``limit`` events or ``max_seconds``."""
    deadline = time.monotonic() + max_seconds
    quiet_since = time.monotonic()
    sent = 0
    # A comment first: the client sees the stream is open before the first event, and a
    # stream that ends with none (``max_seconds=0`` on a quiet chain) is still a valid body.
    # (data=None: Litestar's default data "" would make each comment an empty event.)
    yield ServerSentEventMessage(comment="stream open", data=None)
    while sent < limit:
        events = await _chained_events(state, after, min(500, limit - sent), only)
        for event in events:
            yield ServerSentEventMessage(data=json.dumps(event), id=event["sequence"])
        if time.monotonic() >= deadline:
            return
        if events:
            after, sent, quiet_since = sequence_of(events[-1]), sent + len(events), time.monotonic()
            continue
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ServerSentEventMessage(comment="keep-alive", data=None)
        await asyncio.sleep(POLL_SECONDS)


__all__ = ["AuditController", "AuditPage", "CheckpointPage", "WebhookController"]
