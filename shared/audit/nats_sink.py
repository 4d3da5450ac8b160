"""NATS JetStream sink: stream ``LUPA_AUDIT``, subject ``lupa.audit.<service>.<type>``; signed
checkpoints on ``lupa.audit.<service>.checkpoint``, as CloudEvents of type
``fi.lupa.audit.checkpoint``: every message under ``lupa.audit.>`` is a CloudEvent.

Each message carries ``Nats-Msg-Id`` = its CloudEvent id (for a checkpoint, one derived from
its chain's signed head, so two deployments never share one), so a re-send after a crash
inside the stream's duplicate window is dropped by JetStream itself. Messages go one at a
time, each after the previous one's ack: a failed one is resent before anything after it has
been sent, so the stream holds each chain in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import nats
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from shared.audit.checkpoints import PublicCheckpoint, checkpoint_event
from shared.audit.cloudevents import CloudEvent, to_json_bytes

SUBJECTS = "lupa.audit.>"
ACK_TIMEOUT_S = 10.0
log = structlog.get_logger("lupa.relay.nats")


Message = tuple[str, bytes, str]  # subject, body, Nats-Msg-Id


def checkpoint_subject(service: str) -> str:
    return f"lupa.audit.{service}.checkpoint"


def nats_subject(service: str, event_type: str) -> str:
    """``fi.lupa.consent.purpose.created`` -> ``lupa.audit.consent.purpose.created``."""
    prefix = f"fi.lupa.{service}."
    short = event_type[len(prefix) :] if event_type.startswith(prefix) else event_type
    return f"lupa.audit.{service}.{short}"


async def _quiet(_: Exception) -> None:
    """nats-py logs every failed connect with a traceback; the relay logs one line instead."""


class NatsSink:
    """Publishes CloudEvents and checkpoints in order; reports the acknowledged prefix."""

    name = "nats"

    def __init__(
        self, url: str, stream: str = "LUPA_AUDIT", duplicate_window: float = 3600.0
    ) -> None:
        self.url = url
        self.stream = stream
        self.duplicate_window = duplicate_window
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    async def _jetstream(self) -> JetStreamContext:
        if self._js is None or self._nc is None or not self._nc.is_connected:
            await self.close()
            # Reconnects are ours (next pass), so a dead server surfaces as an error, not a buffer.
            self._nc = await asyncio.wait_for(
                nats.connect(
                    self.url,
                    allow_reconnect=False,
                    connect_timeout=2,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.2,
                    error_cb=_quiet,
                ),
                timeout=5,
            )
            self._js = self._nc.jetstream(timeout=ACK_TIMEOUT_S)
            await self._ensure_stream(self._js)
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            with contextlib.suppress(nats.js.errors.BadRequestError):  # created by another relay
                await js.add_stream(
                    name=self.stream, subjects=[SUBJECTS], duplicate_window=self.duplicate_window
                )

    async def deliver(self, service: str, events: Sequence[CloudEvent]) -> int:
        """Publish ``events`` in order; return how many leading events JetStream acknowledged."""
        return await self._publish_in_order(
            [(nats_subject(service, e["type"]), to_json_bytes(e), e["id"]) for e in events]
        )

    async def deliver_checkpoints(
        self, service: str, checkpoints: Sequence[PublicCheckpoint]
    ) -> int:
        """Publish signed checkpoints in order; return how many leading ones were acknowledged."""
        return await self._publish_in_order(
            [
                (checkpoint_subject(service), to_json_bytes(event), event["id"])
                for event in map(checkpoint_event, checkpoints)
            ]
        )

    async def _publish_in_order(self, messages: Sequence[Message]) -> int:
        """Each publish waits for its ack; the first failure stops the batch.

        Pipelining would be faster, but a lost ack in the middle of a pipeline lets later
        messages into the stream before the resent one: strict order costs a round trip each.
        """
        acked = 0
        try:
            js = await self._jetstream()
            for subject, body, msg_id in messages:
                await js.publish(
                    subject, body, timeout=ACK_TIMEOUT_S, headers={"Nats-Msg-Id": msg_id}
                )
                acked += 1
        except Exception as exc:
            log.warning(
                "nats_publish_failed", acked=acked, sent=len(messages), error=type(exc).__name__
            )
            await self.close()
        return acked

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
