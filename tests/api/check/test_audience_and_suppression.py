"""Audience and suppression exports over HTTP: formats, agreement with checks, keyed hashes."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json

import asyncpg

from tests.api.check.helpers import patch_preferences
from tests.ledger_helpers import make_purpose, make_subject, post_consent


async def mixed_population(consent, auth, new_id, database_url) -> tuple[str, dict[str, str]]:
    """A purpose and one subject per way of being (not) reachable; returns (key, {ext: why})."""
    key = new_id("aud")
    await make_purpose(consent, auth, key, double_opt_in_channels=[], validity_days=30)
    people = {
        name: new_id(name)
        for name in (
            "granted",
            "withdrawn",
            "never",
            "optout",
            "channeloff",
            "paused",
            "restricted",
            "topicless",
            "quiet",
        )
    }
    for ext in people.values():
        await make_subject(consent, auth, ext)
        if ext != people["never"]:
            assert (await post_consent(consent, auth, ext, key)).status_code == 201
    await post_consent(consent, auth, people["withdrawn"], key, action="withdraw")
    await patch_preferences(consent, auth, people["optout"], {"marketing_opt_out": True})
    await patch_preferences(
        consent, auth, people["channeloff"], {"channels": {"email": {"enabled": False}}}
    )
    await patch_preferences(
        consent, auth, people["paused"], {"paused_until": "2099-01-01T00:00:00Z"}
    )
    await patch_preferences(consent, auth, people["topicless"], {"topics": {key: []}})
    await patch_preferences(
        consent,
        auth,
        people["quiet"],
        {"quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}},
    )
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE subjects SET restricted_at = now() WHERE external_id = $1", people["restricted"]
        )
    finally:
        await conn.close()
    return key, people


async def test_the_audience_is_exactly_who_the_batch_check_allows(
    consent, auth, new_id, database_url
):
    key, people = await mixed_population(consent, auth, new_id, database_url)
    for topic in (None, "running"):
        params = {"purpose": key, "channel": "email", **({"topic": topic} if topic else {})}
        resp = await consent.get("/v1/audience", params=params, headers=auth("marketing"))
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        audience = {json.loads(line)["subject"] for line in resp.text.splitlines()}
        batch = await consent.post(
            "/v1/check/batch",
            json={
                "purpose": key,
                "channel": "email",
                "subjects": list(people.values()),
                **({"topic": topic} if topic else {}),
            },
            headers=auth("marketing"),
        )
        allowed = {r["subject"] for r in batch.json()["results"] if r["allowed"]}
        assert audience == allowed
    assert audience == {people["granted"], people["quiet"]}  # with topic "running"


async def test_the_audience_comes_as_csv_when_asked(consent, auth, new_id, database_url):
    key, people = await mixed_population(consent, auth, new_id, database_url)
    resp = await consent.get(
        "/v1/audience",
        params={"purpose": key, "channel": "email"},
        headers={**auth("marketing"), "Accept": "text/csv"},
    )
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {r["subject"] for r in rows} == {people["granted"], people["quiet"], people["topicless"]}


async def test_an_unknown_purpose_has_no_audience_but_a_clear_problem(consent, auth, new_id):
    resp = await consent.get(
        "/v1/audience",
        params={"purpose": new_id("nope"), "channel": "email"},
        headers=auth("marketing"),
    )
    assert resp.status_code == 422 and resp.json()["type"] == "urn:lupa:problem:unknown-purpose"
    denied = await consent.get(
        "/v1/audience", params={"purpose": "x", "channel": "email"}, headers=auth("portal")
    )
    assert denied.status_code == 403


def sender_hash(key: bytes, address: str) -> str:
    """What the sender computes on its own list, from the documented recipe."""
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()


async def test_suppression_lists_keyed_hashes_of_refused_addresses(
    consent, auth, new_id, database_url, keyring
):
    key, people = await mixed_population(consent, auth, new_id, database_url)
    resp = await consent.get(
        "/v1/suppression", params={"channel": "email"}, headers=auth("marketing")
    )
    assert resp.status_code == 200
    hashes = {json.loads(line)["hash"] for line in resp.text.splitlines()}
    mail = {
        name: sender_hash(keyring.suppression_key, f"  {ext.upper()}@Example.com ")
        for name, ext in people.items()
    }
    for name in ("withdrawn", "optout", "channeloff", "restricted"):
        assert mail[name] in hashes, name
    for name in ("granted", "never", "paused", "quiet"):
        assert mail[name] not in hashes, name
    assert all(ext not in resp.text for ext in people.values())  # no ids, no addresses
    by_purpose = await consent.get(
        "/v1/suppression",
        params={"channel": "email", "purpose": key},
        headers={**auth("marketing"), "Accept": "text/csv"},
    )
    assert by_purpose.text.startswith("hash\r\n")
    assert mail["withdrawn"] in by_purpose.text


async def test_post_and_push_have_no_suppression_list(consent, auth):
    resp = await consent.get(
        "/v1/suppression", params={"channel": "post"}, headers=auth("marketing")
    )
    assert resp.status_code == 422
