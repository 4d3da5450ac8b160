"""Pure pieces of the audit trail: CloudEvent rendering, the chain link, webhook signatures."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.audit.chain import ChainHead, event_hash, link
from shared.audit.cloudevents import GENESIS_HASH, StoredEvent, canonical_bytes, to_cloudevent
from shared.audit.nats_sink import nats_subject
from shared.audit.webhooks import backoff_seconds, is_standard_secret, new_secret, signed_headers

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
