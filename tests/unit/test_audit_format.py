"""Pure pieces of the audit trail: CloudEvent rendering, the chain link, webhook signatures."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.audit.chain import ChainHead, event_hash, link
from shared.audit.checkpoints import PublicCheckpoint, checkpoint_event
from shared.audit.cloudevents import (
    GENESIS_HASH,
    StoredEvent,
    canonical_bytes,
    to_cloudevent,
    to_json_bytes,
)
from shared.audit.nats_sink import nats_subject
from shared.audit.webhooks import backoff_seconds, is_standard_secret, new_secret, signed_headers
from tests.cloudevents_judge import assert_sequences_sort_like_numbers, judged

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
CHAINED_AT = datetime(2026, 1, 2, 3, 4, 7, tzinfo=UTC)


def test_a_row_renders_as_a_cloudevent_with_sequence_and_recordedtime():
    [row], _ = link([ROW], ChainHead("consent", 0, GENESIS_HASH), CHAINED_AT)
    event = to_cloudevent(row)
    assert event["specversion"] == "1.0" and event["source"] == "/lupa/consent"
    assert event["time"] == "2026-01-02T03:04:05.000000Z"
    assert event["recordedtime"] == "2026-01-02T03:04:07.000000Z"
    assert event["sequence"] == "00000000000000000001" and event["prevhash"] == "00" * 32
    assert event["subject"] == "b3c1" and event["datacontenttype"] == "application/json"


def test_the_sdk_reads_each_event_with_a_string_sequence_that_sorts_like_the_number():
    rows, _ = link(
        [replace(ROW, id=n, event_id=uuid.UUID(int=n)) for n in range(1, 12)],
        ChainHead("consent", 0, GENESIS_HASH),
        CHAINED_AT,
    )
    events = [judged(to_json_bytes(to_cloudevent(row))) for row in rows]
    assert [e.get_extension("sequence") for e in events][8:10] == [
        "00000000000000000009",
        "00000000000000000010",
    ]
    assert_sequences_sort_like_numbers(events)
    assert events[0].get_id() == str(uuid.UUID(int=1)) and events[0].get_data() == ROW.data


def test_recordedtime_is_when_the_event_was_chained_and_never_before_its_time():
    [chained], _ = link([ROW], ChainHead("consent", 0, GENESIS_HASH), CHAINED_AT)
    assert chained.recorded_at == CHAINED_AT
    # A writer whose clock runs ahead of the database's: recordedtime still >= time.
    early = ROW.time - timedelta(seconds=30)
    [skewed], _ = link([ROW], ChainHead("consent", 0, GENESIS_HASH), early)
    event = judged(to_json_bytes(to_cloudevent(skewed)))
    recorded = datetime.fromisoformat(event.get_extension("recordedtime"))
    assert event.get_time() is not None and recorded >= event.get_time()


def test_the_hash_covers_the_sequence_as_the_number_chains_were_first_hashed_with():
    [row], _ = link([ROW], ChainHead("consent", 0, GENESIS_HASH), CHAINED_AT)
    hashed = json.loads(canonical_bytes(to_cloudevent(row)))
    assert hashed["sequence"] == 1


def _checkpoint(head: str) -> PublicCheckpoint:
    return {
        "service": "consent",
        "sequence": 100,
        "head": head,
        "token": "a.b.c",
        "time": "2026-01-02T03:04:08.000000Z",
    }


def test_a_checkpoint_is_a_cloudevent_of_its_own_type_carrying_the_checkpoint_line():
    line = _checkpoint("ab" * 32)
    event = judged(to_json_bytes(checkpoint_event(line)))
    assert event.get_type() == "fi.lupa.audit.checkpoint"
    assert event.get_source() == "/lupa/consent" and event.get_data() == line
    assert "sequence" not in event.get_attributes()  # not an event of the chain it signs


def test_a_checkpoint_id_is_stable_per_chain_and_differs_between_chains():
    same = checkpoint_event(_checkpoint("ab" * 32))["id"]
    assert checkpoint_event(_checkpoint("ab" * 32))["id"] == same
    assert checkpoint_event(_checkpoint("cd" * 32))["id"] != same


def test_each_hash_commits_to_the_previous_one_and_to_the_content():
    rows, head = link(
        [ROW, replace(ROW, id=2, event_id=uuid.UUID(int=2))],
        ChainHead("consent", 0, GENESIS_HASH),
        CHAINED_AT,
    )
    assert rows[1].prev_hash == rows[0].hash == event_hash(rows[0])
    assert head.sequence == 2 and head.hash == rows[1].hash
    altered = replace(rows[0], data={"purpose": "other"})
    assert event_hash(altered) != rows[0].hash
    assert b'"hash"' not in canonical_bytes(to_cloudevent(rows[0]))


def test_a_webhook_signature_is_standard_webhooks():
    """Judged by the reference library: verifies with the secret, not with another, not for
    another body, not once stale."""
    secret = new_secret()
    body = b'{"specversion":"1.0"}'
    headers = signed_headers(secret, "evt-1", body, timestamp=int(time.time()))
    Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"specversion":"1.1"}', headers)
    stale = signed_headers(secret, "evt-1", body, timestamp=int(time.time()) - 3600)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_secrets_take_the_standard_form():
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert is_standard_secret(secret)
    assert not is_standard_secret("whsec_" + base64.b64encode(b"short").decode())
    assert not is_standard_secret("plain-text-secret-plain-text-secret")
    assert not is_standard_secret("whsec_not*base64*at*all*not*base64*at*all")


def test_backoff_grows_and_stays_under_the_cap():
    assert backoff_seconds(1, 1, 60) <= 1 < backoff_seconds(4, 1, 60) <= 8
    assert backoff_seconds(30, 1, 60) <= 60


def test_nats_subject_drops_the_type_prefix():
    assert (
        nats_subject("consent", "fi.lupa.consent.consent.granted")
        == "lupa.audit.consent.consent.granted"
    )
