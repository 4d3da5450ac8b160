"""``POST /v1/token`` (RFC 8693), as docs/security.md describes it: the portal backend's
unbound token buys a short-lived token for one subject, and does nothing else."""

from __future__ import annotations

import pytest

from tests.jose_judge import judged
from tests.ledger_helpers import make_purpose, make_subject, post_consent, scene

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
PROBLEM = "application/problem+json"


def exchange_form(subject_token: str, subject: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": GRANT,
        "subject_token": subject_token,
        "subject_token_type": ACCESS,
        "subject": subject,
        **extra,
    }


async def exchange(client, form):
    return await client.post("/v1/token", data=form)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_unbound_portal_token_reads_no_subject_and_no_catalogue(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    backend = auth("portal")
    for path in (f"/v1/subjects/{ext}", f"/v1/subjects/{ext}/consents", "/v1/purposes"):
        resp = await consent.get(path, headers=backend)
        assert resp.status_code == 403, (path, resp.status_code)
        assert resp.json()["type"] == "urn:lupa:problem:unbound-portal-token"
        assert ext not in resp.text
    refused = await consent.post(
        f"/v1/subjects/{ext}/consents",
        json={"purpose": key, "channel": "email", "action": "grant"},
        headers=backend,
    )
    assert refused.status_code == 403
    states = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    assert states.json() == []  # nothing was recorded


async def test_an_unbound_portal_token_is_refused_by_the_dsar_service(dsar, auth):
    resp = await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal"))
    assert resp.status_code == 403
    assert resp.json()["type"] == "urn:lupa:problem:unbound-portal-token"


@pytest.mark.parametrize("service", ["consent", "dsar"])
async def test_the_exchange_mints_a_subject_bound_portal_token(request, service, token, new_id):
    client = request.getfixturevalue(service)
    ext = new_id("cust")
    resp = await exchange(client, exchange_form(token("portal", ttl=3600), ext))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert (body["issued_token_type"], body["token_type"], body["expires_in"]) == (
        ACCESS,
        "Bearer",
        900,
    )
    keys = (await client.get("/.well-known/jwks.json")).json()
    claims = judged(body["access_token"], keys, "at+jwt", "urn:lupa:consent-api")
    assert (claims["role"], claims["sub"]) == ("portal", ext)
    assert claims["exp"] - claims["iat"] == 900


async def test_the_exchanged_token_reaches_its_subject_and_no_other(consent, auth, token, new_id):
    key, ext = await scene(consent, auth, new_id)
    _, other = await scene(consent, auth, new_id)
    minted = (await exchange(consent, exchange_form(token("portal"), ext))).json()["access_token"]
    granted = await post_consent(consent, lambda *_: bearer(minted), ext, key, role="portal")
    assert granted.status_code == 201, granted.text
    assert (await consent.get(f"/v1/subjects/{ext}", headers=bearer(minted))).status_code == 200
    assert (await consent.get(f"/v1/subjects/{other}", headers=bearer(minted))).status_code == 403


async def test_an_unknown_subject_can_be_exchanged_and_then_created(consent, token, new_id):
    """The backend exchanges first and creates the subject with the token it got."""
    ext = new_id("new")
    minted = (await exchange(consent, exchange_form(token("portal"), ext))).json()["access_token"]
    created = await consent.put(
        f"/v1/subjects/{ext}", json={"email": f"{ext}@example.com"}, headers=bearer(minted)
    )
    assert created.status_code == 201, created.text


async def test_the_minted_token_never_outlives_the_exchanged_one(consent, token, new_id):
    resp = await exchange(consent, exchange_form(token("portal", ttl=60), new_id("cust")))
    assert resp.status_code == 200
    assert 0 < resp.json()["expires_in"] <= 60


async def test_the_exchange_is_audited_by_pseudonymous_id_only(consent, auth, token, new_id):
    ext = new_id("cust")
    subject_id = (await make_subject(consent, auth, ext))["id"]
    resp = await exchange(consent, exchange_form(token("portal"), ext))
    assert resp.status_code == 200
    feed = await consent.get(
        "/v1/audit/events",
        params={"type": "fi.lupa.consent.token.exchanged", "subject": subject_id},
        headers=auth("admin"),
    )
    events = feed.json()["events"]
    assert len(events) == 1, events
    assert events[0]["data"]["subject_known"] is True
    assert ext not in feed.text and resp.json()["access_token"] not in feed.text


@pytest.mark.parametrize(
    ("role", "subject"), [("portal", "cust-bound"), ("admin", None), ("officer", None)]
)
async def test_only_an_unbound_portal_token_may_exchange(consent, token, role, subject, new_id):
    resp = await exchange(consent, exchange_form(token(role, subject), new_id("cust")))
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["error"] == "unauthorized_client"


async def test_an_expired_or_altered_subject_token_is_401(consent, token, keyring, new_id):
    from shared.auth.tokens import issue_access_token

    expired = issue_access_token(keyring, "portal", None, -10)
    good = token("portal")
    altered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    for subject_token in (expired, altered, "not-a-token"):
        resp = await exchange(consent, exchange_form(subject_token, new_id("cust")))
        assert resp.status_code == 401, resp.text
        assert resp.json()["type"] == "urn:lupa:problem:unauthorized"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"subject": ""}, "invalid_request"),
        ({"subject": " padded"}, "invalid_request"),
        ({"audience": "elsewhere"}, "invalid_request"),
        ({"actor_token": "x"}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ],
)
async def test_a_malformed_exchange_is_a_400_problem(consent, token, new_id, change, error):
    resp = await exchange(consent, {**exchange_form(token("portal"), new_id("cust")), **change})
    assert resp.status_code == 400, resp.text
    assert resp.json()["type"] == "urn:lupa:problem:invalid-token-request"
    assert resp.json()["error"] == error


async def test_a_parameter_given_twice_is_refused(consent, token, new_id):
    resp = await consent.post(
        "/v1/token",
        content=f"grant_type={GRANT}&subject_token={token('portal')}"
        f"&subject_token_type={ACCESS}&subject=a&subject=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


async def test_a_missing_parameter_is_named(consent):
    resp = await exchange(consent, {"grant_type": GRANT})
    assert resp.status_code == 400
    assert "subject_token" in resp.json()["detail"]


async def test_a_bound_portal_token_still_reads_the_catalogue(consent, auth, new_id, token):
    key = new_id("p")
    await make_purpose(consent, auth, key)
    resp = await consent.get("/v1/purposes", headers=bearer(token("portal", new_id("c"))))
    assert resp.status_code == 200
