"""An audit row as stored, its CloudEvents 1.0 JSON event, and the canonical bytes hashed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

SPEC_VERSION = "1.0"
# The sequence extension is a string compared lexicographically: zero-padded to the digits of
# the largest bigint (19), plus one, so "00000000000000000010" sorts after "…09".
SEQUENCE_DIGITS = 20
GENESIS_HASH = bytes(32)
# Attributes of a chained event; ``hash`` is left out of what the hash covers.
HASHED_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "data",
    "sequence",
    "recordedtime",
    "prevhash",
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An ``audit_events`` row, column for column; the chain fields stay None until chained."""

    id: int
    event_id: uuid.UUID
    service: str
    type: str
    subject: str | None
    time: datetime
    data: Any  # the event's own JSON document, free-form by design (see ``AuditEvent.data``)
    txid: str
    recorded_at: datetime
    sequence: int | None = None
    prev_hash: bytes | None = None
    hash: bytes | None = None


class CloudEvent(TypedDict):
    """The JSON document itself (feed, SSE, NATS, webhooks): a dict, so it serialises as is."""

    specversion: str
    id: str
    source: str
    type: str
    time: str
    datacontenttype: str
    data: Any
    recordedtime: str
    subject: NotRequired[str]
    sequence: NotRequired[str]
    prevhash: NotRequired[str]
    hash: NotRequired[str]


def source_of(service: str) -> str:
    return f"/lupa/{service}"


def sequence_text(sequence: int) -> str:
    """A chain sequence as the CloudEvents ``sequence`` extension spells it."""
    return f"{sequence:0{SEQUENCE_DIGITS}d}"


def sequence_of(event: Mapping[str, Any]) -> int:
    """The chain sequence of a chained CloudEvent, as a number again."""
    return int(event["sequence"])


def rfc3339(instant: datetime) -> str:
    """UTC, microseconds, ``Z``: one spelling per instant, so hashes are reproducible."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_cloudevent(row: StoredEvent) -> CloudEvent:
    """The CloudEvent of an ``audit_events`` row (an unchained row lacks the chain fields)."""
    event: CloudEvent = {
        "specversion": SPEC_VERSION,
        "id": str(row.event_id),
        "source": source_of(row.service),
        "type": row.type,
        "time": rfc3339(row.time),
        "datacontenttype": "application/json",
        "data": row.data,
        "recordedtime": rfc3339(row.recorded_at),
    }
    if row.subject is not None:
        event["subject"] = row.subject
    if row.sequence is not None:
        assert row.prev_hash is not None, "the chainer sets sequence and prev_hash together"
        event["sequence"] = sequence_text(row.sequence)
        event["prevhash"] = row.prev_hash.hex()
        if row.hash is not None:
            event["hash"] = row.hash.hex()
    return event


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the serialisation the chain hash is taken over.

    ``sequence`` is hashed as the JSON integer it was when the chain began, not as the padded
    string the event carries: every chain already written keeps verifying.
    """
    hashed = {k: event[k] for k in HASHED_ATTRIBUTES if k in event}
    if "sequence" in hashed:
        hashed["sequence"] = int(hashed["sequence"])
    return json.dumps(
        hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def to_json_bytes(event: Mapping[str, Any]) -> bytes:
    """The wire form sent to sinks (compact JSON) of a CloudEvent or a public checkpoint."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
