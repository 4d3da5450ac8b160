"""Reading back what the relay put into JetStream, for assertions."""

from __future__ import annotations

import json
from typing import Any

import nats
import nats.errors


async def stream_count(url: str, stream: str = "LUPA_AUDIT") -> int:
    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    try:
        try:
            return int((await nc.jetstream().stream_info(stream)).state.messages)
        except nats.js.errors.NotFoundError:
            return 0
    finally:
        await nc.close()


async def read_all(url: str, expected: int, stream: str = "LUPA_AUDIT") -> list[dict[str, Any]]:
    """Every message in the stream, in stream order (at most ``expected`` + a margin)."""
    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    events: list[dict[str, Any]] = []
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("lupa.audit.>", durable=None, stream=stream)
        while len(events) < expected + 100:
            try:
                messages = await sub.fetch(500, timeout=1)
            except nats.errors.TimeoutError:
                break
            for message in messages:
                event = json.loads(message.data)
                event["_msg_id"] = message.headers.get("Nats-Msg-Id") if message.headers else None
                event["_subject"] = message.subject
                events.append(event)
                await message.ack()
    finally:
        await nc.close()
    return events
