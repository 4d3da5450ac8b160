"""Reading back what the relay put into JetStream, for assertions."""

from __future__ import annotations

import json
import time
from typing import Any

import nats
import nats.errors
import nats.js.errors

from tests.cloudevents_judge import judged

CHECKPOINT_SUFFIX = ".checkpoint"


def is_checkpoint(message: dict[str, Any]) -> bool:
    return str(message["_subject"]).endswith(CHECKPOINT_SUFFIX)


async def stream_count(url: str, stream: str = "LUPA_AUDIT", *, checkpoints: bool = False) -> int:
    """How many events (or, with ``checkpoints``, signed checkpoints) the stream holds."""
    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    try:
        try:
            info = await nc.jetstream().stream_info(stream, subjects_filter=">")
        except nats.js.errors.NotFoundError:
            return 0
        subjects = info.state.subjects or {}
        return sum(n for s, n in subjects.items() if s.endswith(CHECKPOINT_SUFFIX) == checkpoints)
    finally:
        await nc.close()


async def read_messages(
    url: str, events: int, checkpoints: int = 0, stream: str = "LUPA_AUDIT"
) -> list[dict[str, Any]]:
    """Every message in the stream, in stream order: at least ``events`` events and
    ``checkpoints`` checkpoints (waiting up to 15 s for them), and whatever follows them."""
    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=1)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    try:
        sub = await nc.jetstream().pull_subscribe("lupa.audit.>", durable=None, stream=stream)
        while len(messages) < events + checkpoints + 100:
            try:
                batch = await sub.fetch(500, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                # An empty fetch raises either, depending on where in nats-py it timed out.
                kept = sum(1 for m in messages if is_checkpoint(m))
                enough = len(messages) - kept >= events and kept >= checkpoints
                if enough or time.monotonic() > deadline:
                    break
                continue
            for message in batch:
                messages.append(_decoded(message))
                await message.ack()
    finally:
        await nc.close()
    return messages


def _decoded(message: Any) -> dict[str, Any]:
    """The message's JSON, once the CloudEvents SDK has accepted it (every message under
    ``lupa.audit.>`` is a CloudEvent, checkpoints included)."""
    judged(message.data)
    body: dict[str, Any] = json.loads(message.data)
    body["_msg_id"] = message.headers.get("Nats-Msg-Id") if message.headers else None
    body["_subject"] = message.subject
    return body


async def read_all(url: str, expected: int, stream: str = "LUPA_AUDIT") -> list[dict[str, Any]]:
    """Every event in the stream, in stream order (signed checkpoints left out)."""
    return [m for m in await read_messages(url, expected, stream=stream) if not is_checkpoint(m)]


async def read_checkpoints(
    url: str, events: int, expected: int, stream: str = "LUPA_AUDIT"
) -> list[dict[str, Any]]:
    """Every signed checkpoint in the stream, in stream order."""
    return [m for m in await read_messages(url, events, expected, stream) if is_checkpoint(m)]
