"""Route middleware that answers the common, valid request of a hot endpoint itself.

A fast path accepts a strict subset of what its handler accepts (a body of plain JSON: the
declared JSON content type and length, no escapes, no member given twice), reads it alike and
answers it directly; anything else goes on to the handler with the body replayed, so every
error response stays the handler's own. These are the pieces every fast path shares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

JSON_CONTENT_TYPES = frozenset(
    {b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"}
)


async def read_json_body(
    scope: Scope, receive: Receive, limit: int
) -> tuple[bytes | None, list[Any]]:
    """The body of a plain JSON request of at most ``limit`` bytes, and the messages read (to
    replay); ``None`` for anything else, read no further than its headers say."""
    length, json_type = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"content-type":
            json_type = value.lower() in JSON_CONTENT_TYPES
    # No content type at all is the handler's 415, like any other type.
    if not json_type or length is None or length > limit:
        return None, []
    messages: list[Any] = []
    chunks = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return (body if len(body) == length else None), messages


def member_names(fields: Iterable[str]) -> tuple[bytes, ...]:
    """Each member name as it appears in a body that spells it literally."""
    return tuple(f'"{name}"'.encode() for name in fields)


def plain_json(body: bytes, members: tuple[bytes, ...]) -> bool:
    """A body without backslashes spells every key literally, so counting finds a member given
    twice (which the handler's strict reading refuses and msgspec would take the last of)."""
    return b"\\" not in body and not any(body.count(member) > 1 for member in members)


def replay(messages: list[Any], receive: Receive) -> Receive:
    """``receive`` giving back the messages already read first."""
    pending = list(messages)

    async def replayed() -> Any:
        return pending.pop(0) if pending else await receive()

    return replayed


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> None:
    """One complete JSON response."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
