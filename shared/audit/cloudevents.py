"""Render an audit row as a CloudEvents 1.0 JSON event, and the canonical bytes its hash covers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
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


def source_of(service: str) -> str:
    return f"/lupa/{service}"


def rfc3339(instant: datetime) -> str:
    """UTC, microseconds, ``Z``: one spelling per instant, so hashes are reproducible."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_cloudevent(row: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent of an ``audit_events`` row (an unchained row lacks the chain fields)."""
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(row["event_id"]),
        "source": source_of(row["service"]),
        "type": row["type"],
        "time": rfc3339(row["time"]),
        "datacontenttype": "application/json",
        "data": row["data"],
        "recordedtime": rfc3339(row["recorded_at"]),
    }
    if row["subject"] is not None:
        event["subject"] = row["subject"]
    if row.get("sequence") is not None:
        event["sequence"] = row["sequence"]
        event["prevhash"] = bytes(row["prev_hash"]).hex()
        if row.get("hash") is not None:
            event["hash"] = bytes(row["hash"]).hex()
    return event


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the serialisation the chain hash is taken over."""
    hashed = {k: event[k] for k in HASHED_ATTRIBUTES if k in event}
    return json.dumps(
        hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def to_json_bytes(event: Mapping[str, Any]) -> bytes:
    """The wire form sent to sinks (compact JSON)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
