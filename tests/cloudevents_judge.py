"""Every event Lupa emits, judged by the CloudEvents SDK rather than by Lupa's own code."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.formats.json import JSONFormat


def judged(body: bytes | str) -> BaseCloudEvent:
    """``body`` (a NATS payload, a structured webhook body, an SSE ``data:`` line) read by the
    SDK: it must be a CloudEvents 1.0 event, and a ``sequence`` (the sequence extension) must
    be a non-empty string, and ``recordedtime`` (the extension) never earlier than ``time``."""
    event = JSONFormat().read(None, body)
    assert event.get_specversion() == "1.0"
    attributes = event.get_attributes()
    sequence = attributes.get("sequence")
    if sequence is not None:
        assert isinstance(sequence, str) and sequence, f"sequence {sequence!r} is not a string"
    if "recordedtime" in attributes:
        recorded, occurred = datetime.fromisoformat(attributes["recordedtime"]), event.get_time()
        assert occurred is not None and recorded >= occurred, "recorded before it happened"
    return event


def assert_sequences_sort_like_numbers(events: Iterable[BaseCloudEvent | dict[str, Any]]) -> None:
    """The sequence strings, sorted as strings (what the extension promises), are in the same
    order as the numbers they spell."""
    sequences = [
        e["sequence"] if isinstance(e, dict) else e.get_extension("sequence") for e in events
    ]
    assert sorted(sequences) == sorted(sequences, key=int)
