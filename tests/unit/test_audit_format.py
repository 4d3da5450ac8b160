"""Pure pieces of the audit trail: CloudEvent rendering, the chain link, webhook signatures."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from shared.audit.chain import ChainHead, event_hash, link
from shared.audit.cloudevents import GENESIS_HASH, StoredEvent, canonical_bytes, to_cloudevent
from shared.audit.nats_sink import nats_subject
from shared.audit.webhooks import backoff_seconds, signature_header, signature_valid

ROW = StoredEvent(
    id=1,
    event_id=uuid.UUID(int=1),
    service="consent",
    type="fi.lupa.consent.consent.granted",
    subject="b3c1",
    time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    data={"purpose": "news"},
    txid="1",
    recorded_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    sequence=None,
    prev_hash=None,
    hash=None,
)


def test_a_row_renders_as_a_cloudevent_with_sequence_and_recordedtime():
    [row], _ = link([ROW], ChainHead("consent", 0, GENESIS_HASH))
    event = to_cloudevent(row)
    assert event["specversion"] == "1.0" and event["source"] == "/lupa/consent"
    assert event["time"] == "2026-01-02T03:04:05.000000Z"
    assert event["sequence"] == 1 and event["prevhash"] == "00" * 32
    assert event["subject"] == "b3c1" and event["datacontenttype"] == "application/json"


def test_each_hash_commits_to_the_previous_one_and_to_the_content():
    rows, head = link(
        [ROW, replace(ROW, id=2, event_id=uuid.UUID(int=2))], ChainHead("consent", 0, GENESIS_HASH)
    )
    assert rows[1].prev_hash == rows[0].hash == event_hash(rows[0])
    assert head.sequence == 2 and head.hash == rows[1].hash
    altered = replace(rows[0], data={"purpose": "other"})
    assert event_hash(altered) != rows[0].hash
    assert b'"hash"' not in canonical_bytes(to_cloudevent(rows[0]))


def test_a_webhook_signature_checks_out_only_with_the_secret_and_fresh():
    header = signature_header("secret", b"{}", timestamp=1000)
    assert signature_valid("secret", header, b"{}", now=1010)
    assert not signature_valid("other", header, b"{}", now=1010)
    assert not signature_valid("secret", header, b"{ }", now=1010)
    assert not signature_valid("secret", header, b"{}", now=5000)


def test_backoff_grows_and_stays_under_the_cap():
    assert backoff_seconds(1, 1, 60) <= 1 < backoff_seconds(4, 1, 60) <= 8
    assert backoff_seconds(30, 1, 60) <= 60


def test_nats_subject_drops_the_type_prefix():
    assert (
        nats_subject("consent", "fi.lupa.consent.consent.granted")
        == "lupa.audit.consent.consent.granted"
    )
