"""Audience and suppression exports over HTTP: formats, agreement with checks, keyed hashes.

One population holds a subject for every way of being (not) reachable. Every export of it (a
consent purpose through ``COPY``, a legitimate-interest purpose, a purpose with a minimum age
through the cursor path; NDJSON and CSV; with and without a topic) must be exactly the set of
subjects ``POST /v1/check/batch`` allows: nobody the check refuses, nobody it allows left out.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.api.check.helpers import patch_preferences
from tests.ledger_helpers import make_purpose, make_subject, post_consent

# Subjects with a confirmed, live grant to the consent purpose's current version.
GRANTED = (
    "granted",
    "quiet",
    "topicless",
    "topical",
    "withdrawn",
    "expired",
    "erased",
    "restricted",
    "objected",
    "optout",
    "channeloff",
    "paused",
    "gpc_after_grant",
    "gpc_before_grant",
)
OTHERS = ("never", "pending", "oldversion", "li_withdrawn", "li_gpc")
OF_AGE = ("adult", "child_by_guardian", "underage", "nobirth")
SQL_FACTS = {
    "expired": "UPDATE consent_state c SET granted_at = now() - interval '31 days'"
    " FROM subjects s WHERE s.id = c.subject_id AND s.external_id = $1 AND c.purpose_key = $2",
    "erased": "UPDATE subjects SET erased_at = now() WHERE external_id = $1",
    "restricted": "UPDATE subjects SET restricted_at = now() WHERE external_id = $1",
    "objected": "UPDATE subjects SET objected_at = now() WHERE external_id = $1",
    "gpc_after_grant": "UPDATE subjects SET gpc_at = now() WHERE external_id = $1",
    "gpc_before_grant": "UPDATE subjects SET gpc_at = now() - interval '1 hour'"
    " WHERE external_id = $1",
}
PREFERENCES = {
    "optout": {"marketing_opt_out": True},
    "channeloff": {"channels": {"email": {"enabled": False}}},
    "paused": {"paused_until": "2099-01-01T00:00:00Z"},
    "quiet": {"quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}},
}


@dataclass(frozen=True)
class Population:
    consent_key: str  # double opt-in on email, 30 days' validity, version 2 required, GPC-bound
    li_key: str  # legitimate interest, sale or sharing
    age_key: str  # consent, minimum age 16
    people: dict[str, str]  # name -> external id

    def ids(self, *names: str) -> set[str]:
        return {self.people[n] for n in names}


async def grant_confirmed(consent, auth, ext: str, key: str) -> None:
    resp = await post_consent(consent, auth, ext, key)
    assert resp.status_code == 201, resp.text
    url = resp.json().get("confirmation_url")
    if url:
        assert (await consent.post(urlsplit(url).path)).status_code == 200


async def consent_purpose(consent, auth, new_id, people: dict[str, str]) -> str:
    key = new_id("aud")
    terms = {"double_opt_in_channels": ["email"], "validity_days": 30, "sale_or_sharing": True}
    await make_purpose(consent, auth, key, **terms)
    await grant_confirmed(consent, auth, people["oldversion"], key)
    renewed = {**terms, "title": {"en": "Renewed"}, "require_renewal": True}
    assert (await make_purpose(consent, auth, key, **renewed))["min_accepted_version"] == 2
    for name in GRANTED:
        await grant_confirmed(consent, auth, people[name], key)
    assert (await post_consent(consent, auth, people["pending"], key)).status_code == 201
    await post_consent(consent, auth, people["withdrawn"], key, action="withdraw")
    await patch_preferences(consent, auth, people["topicless"], {"topics": {key: []}})
    await patch_preferences(consent, auth, people["topical"], {"topics": {key: ["running"]}})
    return key


async def legitimate_interest_purpose(consent, auth, new_id, people: dict[str, str]) -> str:
    key = new_id("li")
    await make_purpose(consent, auth, key, legal_basis="legitimate_interest", sale_or_sharing=True)
    await post_consent(consent, auth, people["li_withdrawn"], key, action="withdraw")
    # The person's own browser sends Sec-GPC: an objection to every sale/sharing purpose.
    resp = await consent.patch(
        f"/v1/subjects/{people['li_gpc']}/preferences",
        json={"marketing_opt_out": False},
        headers={**auth("portal", people["li_gpc"]), "If-Match": "*", "Sec-GPC": "1"},
    )
    assert resp.status_code == 200, resp.text
    return key


async def minimum_age_purpose(consent, auth, new_id, people: dict[str, str]) -> str:
    key = new_id("kids")
    await make_purpose(consent, auth, key, min_age=16)
    await make_subject(consent, auth, people["adult"], birth_date="1990-01-01")
    await make_subject(consent, auth, people["child_by_guardian"], birth_date="2018-05-01")
    for name in ("underage", "nobirth"):
        await make_subject(consent, auth, people[name])
    for name in ("adult", "underage", "nobirth"):
        assert (await post_consent(consent, auth, people[name], key)).status_code == 201
    child = await post_consent(consent, auth, people["child_by_guardian"], key, given_by="guardian")
    assert child.status_code == 201
    # The birth date learnt after the grant: the check, not the grant, must now say no.
    await make_subject(consent, auth, people["underage"], birth_date="2015-03-01")
    return key


def fresh_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def pop(consent, auth, database_url) -> Population:
    """The population, built once for this module's tests (which only read it)."""
    return await population(consent, auth, fresh_id, database_url)


async def population(consent, auth, new_id, database_url) -> Population:
    people = {name: new_id(name.replace("_", "")) for name in (*GRANTED, *OTHERS, *OF_AGE)}
    for name in (*GRANTED, *OTHERS):
        await make_subject(consent, auth, people[name])
    consent_key = await consent_purpose(consent, auth, new_id, people)
    li_key = await legitimate_interest_purpose(consent, auth, new_id, people)
    age_key = await minimum_age_purpose(consent, auth, new_id, people)
    for name, patch in PREFERENCES.items():
        await patch_preferences(consent, auth, people[name], patch)
    conn = await asyncpg.connect(database_url)
    try:
        for name, sql in SQL_FACTS.items():
            args = (people[name], consent_key) if "$2" in sql else (people[name],)
            await conn.execute(sql, *args)
    finally:
        await conn.close()
    return Population(consent_key, li_key, age_key, people)


async def audience(consent, auth, params: dict[str, str], media_type: str) -> set[str]:
    resp = await consent.get(
        "/v1/audience", params=params, headers={**auth("marketing"), "Accept": media_type}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(media_type)
    if media_type == "text/csv":
        return {row["subject"] for row in csv.DictReader(io.StringIO(resp.text))}
    return {json.loads(line)["subject"] for line in resp.text.splitlines()}


async def allowed_by_batch(consent, auth, params: dict[str, str], subjects: set[str]) -> set[str]:
    resp = await consent.post(
        "/v1/check/batch",
        json={**params, "subjects": sorted(subjects)},
        headers=auth("marketing"),
    )
    assert resp.status_code == 200, resp.text
    return {r["subject"] for r in resp.json()["results"] if r["allowed"]}


async def test_every_audience_is_exactly_who_the_batch_check_allows(consent, auth, pop):
    everyone = set(pop.people.values())
    exports = {}
    for key in (pop.consent_key, pop.li_key, pop.age_key):
        for topic in (None, "running"):
            params = {"purpose": key, "channel": "email", **({"topic": topic} if topic else {})}
            allowed = await allowed_by_batch(consent, auth, params, everyone)
            for media_type in ("application/x-ndjson", "text/csv"):
                listed = await audience(consent, auth, params, media_type)
                assert listed & everyone == allowed, (key, topic, media_type)
                # Subjects of other tests are in a legitimate-interest audience too: the
                # check must allow them as well.
                others = sorted(listed - everyone)[:1000]
                if others:
                    assert await allowed_by_batch(consent, auth, params, set(others)) == set(others)
            exports[key, topic] = allowed
    # The agreement is not an empty one: who is reachable, named.
    assert exports[pop.consent_key, None] == pop.ids(
        "granted", "quiet", "topicless", "topical", "gpc_before_grant"
    )
    assert exports[pop.consent_key, "running"] == pop.ids(
        "granted", "quiet", "topical", "gpc_before_grant"
    )
    refused_everywhere = pop.ids("erased", "restricted", "objected", "optout", "channeloff")
    assert exports[pop.li_key, None] == everyone - refused_everywhere - pop.ids(
        "paused", "li_withdrawn", "li_gpc", "gpc_after_grant", "gpc_before_grant"
    )
    assert exports[pop.age_key, None] == pop.ids("adult", "child_by_guardian")


async def test_the_audience_comes_as_csv_when_asked(consent, auth, pop):
    resp = await consent.get(
        "/v1/audience",
        params={"purpose": pop.consent_key, "channel": "email"},
        headers={**auth("marketing"), "Accept": "text/csv"},
    )
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.text.startswith("subject\r\n")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {r["subject"] for r in rows} == pop.ids(
        "granted", "quiet", "topicless", "topical", "gpc_before_grant"
    )


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


async def test_suppression_lists_keyed_hashes_of_refused_addresses(consent, auth, pop, keyring):
    resp = await consent.get(
        "/v1/suppression", params={"channel": "email"}, headers=auth("marketing")
    )
    assert resp.status_code == 200
    hashes = {json.loads(line)["hash"] for line in resp.text.splitlines()}
    mail = {
        name: sender_hash(keyring.suppression_key, f"  {ext.upper()}@Example.com ")
        for name, ext in pop.people.items()
    }
    refused = ("withdrawn", "optout", "channeloff", "restricted", "erased", "objected")
    for name in refused:
        assert mail[name] in hashes, name
    for name in ("granted", "never", "paused", "quiet"):
        assert mail[name] not in hashes, name
    assert all(ext not in resp.text for ext in pop.people.values())  # no ids, no addresses
    by_purpose = await consent.get(
        "/v1/suppression",
        params={"channel": "email", "purpose": pop.consent_key},
        headers={**auth("marketing"), "Accept": "text/csv"},
    )
    assert by_purpose.text.startswith("hash\r\n")
    for name in refused:
        assert mail[name] in by_purpose.text, name


async def test_post_and_push_have_no_suppression_list(consent, auth):
    resp = await consent.get(
        "/v1/suppression", params={"channel": "post"}, headers=auth("marketing")
    )
    assert resp.status_code == 422
