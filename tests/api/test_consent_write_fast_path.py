"""``ConsentWriteFastPath`` records plain, valid writes itself and passes everything else to the
handler with the body replayed: a client cannot tell which path answered it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.consent.api import consents as consents_api
from tests.ledger_helpers import make_subject, scene


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many writes reached the handler (it alone asks ``caller`` for the principal)."""
    count = {"n": 0}
    original = consents_api.caller

    def counted(request: Any) -> Any:
        count["n"] += 1
        return original(request)

    monkeypatch.setattr(consents_api, "caller", counted)
    return count


async def _post(consent, ext: str, body: bytes, headers: dict[str, str]):
    headers = {"Content-Type": "application/json", **headers}
    return await consent.post(f"/v1/subjects/{ext}/consents", content=body, headers=headers)


def _shape(document: Any) -> Any:
    """The members and value types of a document, without the values that differ per write."""
    if isinstance(document, dict):
        return {key: _shape(value) for key, value in document.items()}
    return type(document).__name__


async def test_a_plain_write_and_an_escaped_one_answer_alike(consent, auth, new_id, handled):
    key, ext = await scene(consent, auth, new_id)
    other = new_id("cust")
    await make_subject(consent, auth, other)
    admin = auth("admin")  # one token: the actor is the same on both
    plain = json.dumps({"purpose": key, "channel": "email", "action": "grant"}).encode()
    fast = await _post(consent, ext, plain, admin)
    assert fast.status_code == 201, fast.text
    assert handled["n"] == 0
    escaped = b'{"purpose": "%s", "channel": "email", "action": "gr\\u0061nt"}' % key.encode()
    slow = await _post(consent, other, escaped, admin)
    assert slow.status_code == 201, slow.text
    assert handled["n"] == 1
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert int(fast.headers["content-length"]) == len(fast.content)
    for header in ("x-request-id", "x-content-type-options", "content-security-policy"):
        assert (header in fast.headers) == (header in slow.headers), header
    assert _shape(fast.json()) == _shape(slow.json())
    fast_event, slow_event = fast.json()["event"], slow.json()["event"]
    for member in set(fast_event) - {"event_id", "occurred_at", "recorded_at"}:
        assert fast_event[member] == slow_event[member], member
    assert fast.json()["state"]["state"] == slow.json()["state"]["state"] == "granted"


@pytest.mark.parametrize(
    "body, status",
    [
        (b'{"purpose": "%(key)s", "channel": "email", "action": "grant", "extra": 1}', 422),
        (b'{"purpose": "%(key)s", "channel": "fax", "action": "grant"}', 422),
        (
            b'{"purpose": "%(key)s", "purpose": "%(key)s", "channel": "email", "action": "grant"}',
            422,
        ),
        (b'{"purpose": "no-such-purpose", "channel": "email", "action": "grant"}', 422),
        (b'{"purpose": "%(key)s", "channel": "email"', 400),
    ],
    ids=["unknown member", "bad channel", "member twice", "unknown purpose", "truncated"],
)
async def test_what_the_fast_path_refuses_gets_the_handlers_problem(
    consent, auth, new_id, body, status
):
    key, ext = await scene(consent, auth, new_id)
    answer = await _post(consent, ext, body % {b"key": key.encode()}, auth("admin"))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    events = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert events.json() == []  # refused, nothing recorded


async def test_a_portal_token_of_another_subject_is_refused_by_the_handler(
    consent, auth, new_id, handled
):
    key, ext = await scene(consent, auth, new_id)
    other = new_id("cust")
    await make_subject(consent, auth, other)
    body = json.dumps({"purpose": key, "channel": "email", "action": "grant"}).encode()
    answer = await _post(consent, ext, body, auth("portal", other))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    events = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert events.json() == []
    own = await _post(consent, other, body, auth("portal", other))
    assert own.status_code == 201, own.text
    assert handled["n"] == 0  # the subject's own portal write took the fast path


async def test_a_write_honouring_global_privacy_control_goes_to_the_handler(
    consent, auth, new_id, handled
):
    key, ext = await scene(consent, auth, new_id)
    body = json.dumps({"purpose": key, "channel": "email", "action": "grant"}).encode()
    answer = await _post(consent, ext, body, {**auth("portal", ext), "Sec-GPC": "1"})
    assert answer.status_code == 201, answer.text
    assert handled["n"] == 1


async def test_a_keyed_write_takes_the_fast_path_and_its_retry_replays_from_the_handler(
    consent, auth, new_id, handled
):
    key, ext = await scene(consent, auth, new_id)
    body = json.dumps({"purpose": key, "channel": "email", "action": "grant"}).encode()
    headers = {**auth("admin"), "Idempotency-Key": new_id("k")}
    first = await _post(consent, ext, body, headers)
    assert first.status_code == 201, first.text
    assert handled["n"] == 0 and "idempotent-replayed" not in first.headers
    # The key is held: the handler answers the retry from it, with the first answer, and the
    # same key with another body is a reuse (the fast path hashed the request as it does).
    retry = await _post(consent, ext, body, headers)
    assert retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers.get("idempotent-replayed") == "true" and handled["n"] == 1
    other = body.replace(b'"grant"', b'"withdraw"')
    reused = await _post(consent, ext, other, headers)
    assert reused.status_code == 422
    assert reused.json()["type"] == "urn:lupa:problem:idempotency-key-reused"
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert len(history.json()) == 1


async def test_a_malformed_key_goes_to_the_handler_and_is_refused(consent, auth, new_id, handled):
    key, ext = await scene(consent, auth, new_id)
    body = json.dumps({"purpose": key, "channel": "email", "action": "grant"}).encode()
    answer = await _post(consent, ext, body, {**auth("admin"), "Idempotency-Key": "x" * 256})
    assert answer.status_code == 422 and handled["n"] == 1
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    assert history.json() == []
