"""Idempotency-Key on consent writes: a retry replays, a reused key with a new body is refused."""

from __future__ import annotations

from tests.concurrency import race
from tests.ledger_helpers import scene


async def _history(consent, auth, ext):
    return (await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))).json()


async def test_retry_with_the_same_key_returns_the_original_and_writes_nothing(
    consent, auth, new_id
):
    key, ext = await scene(consent, auth, new_id)
    headers = {**auth("portal", ext), "Idempotency-Key": new_id("k")}
    body = {"purpose": key, "channel": "email", "action": "grant"}
    first = await consent.post(f"/v1/subjects/{ext}/consents", json=body, headers=headers)
    # A new token for the same portal subject is the same principal (e.g. after a refresh).
    headers = {**auth("portal", ext), "Idempotency-Key": headers["Idempotency-Key"]}
    retry = await consent.post(f"/v1/subjects/{ext}/consents", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers.get("idempotent-replayed") == "true"
    assert len(await _history(consent, auth, ext)) == 1


async def test_same_key_with_another_body_is_refused(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    headers = {**auth("portal", ext), "Idempotency-Key": "same"}
    url = f"/v1/subjects/{ext}/consents"
    await consent.post(
        url, json={"purpose": key, "channel": "email", "action": "grant"}, headers=headers
    )
    other = await consent.post(
        url, json={"purpose": key, "channel": "email", "action": "withdraw"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"] == "urn:lupa:problem:idempotency-key-reused"
    assert [e["action"] for e in await _history(consent, auth, ext)] == ["grant"]


async def test_concurrent_duplicates_write_once(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    headers = {**auth("portal", ext), "Idempotency-Key": new_id("k")}
    body = {"purpose": key, "channel": "email", "action": "grant"}
    url = f"/v1/subjects/{ext}/consents"
    raced = await race(
        consent, (consent.build_request("POST", url, json=body, headers=headers) for _ in range(8))
    )
    assert raced.most_in_flight > 1, "the duplicates did not overlap"
    results = raced.responses
    assert {r.status_code for r in results} <= {201, 409}
    ok = [r.json() for r in results if r.status_code == 201]
    assert ok and all(r == ok[0] for r in ok)
    busy = [r.json()["type"] for r in results if r.status_code == 409]
    assert all(t == "urn:lupa:problem:idempotency-in-progress" for t in busy)
    assert len(await _history(consent, auth, ext)) == 1


async def test_malformed_key_is_a_problem(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    resp = await consent.post(
        f"/v1/subjects/{ext}/consents",
        json={"purpose": key, "channel": "email", "action": "grant"},
        headers={**auth("admin"), "Idempotency-Key": "x" * 256},
    )
    assert resp.status_code == 422
    assert await _history(consent, auth, ext) == []


async def test_failed_request_does_not_burn_the_key(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    headers = {**auth("admin"), "Idempotency-Key": new_id("k")}
    url = f"/v1/subjects/{ext}/consents"
    wrong = {"purpose": key, "channel": "post", "action": "grant"}  # the purpose has no post
    failed = await consent.post(url, json=wrong, headers=headers)
    assert failed.status_code == 422
    assert failed.json()["type"] == "urn:lupa:problem:channel-not-allowed"
    assert await _history(consent, auth, ext) == []
    # Had the failure been stored, this corrected body would be refused as a reused key.
    corrected = await consent.post(url, json={**wrong, "channel": "email"}, headers=headers)
    assert corrected.status_code == 201, corrected.text
    assert "idempotent-replayed" not in corrected.headers
    assert [(e["channel"], e["action"]) for e in await _history(consent, auth, ext)] == [
        ("email", "grant")
    ]
    replayed = await consent.post(url, json={**wrong, "channel": "email"}, headers=headers)
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert replayed.json() == corrected.json()
    assert len(await _history(consent, auth, ext)) == 1
