"""The two kinds of portal token, as docs/security.md describes them."""

from __future__ import annotations

from tests.ledger_helpers import make_purpose, post_consent, scene


async def test_a_subject_bound_portal_token_reads_the_purpose_catalogue(consent, auth, new_id):
    key = new_id("p")
    await make_purpose(consent, auth, key)
    bound = auth("portal", new_id("cust"))
    for path in ("/v1/purposes", f"/v1/purposes/{key}", f"/v1/purposes/{key}/versions"):
        resp = await consent.get(path, headers=bound)
        assert resp.status_code == 200, (path, resp.status_code)


async def test_a_subject_bound_portal_token_sees_only_its_own_subject(consent, auth, new_id):
    key, ext = await scene(consent, auth, new_id)
    receipt = (await post_consent(consent, auth, ext, key)).json()["receipt"]
    other = auth("portal", new_id("cust"))
    assert (await consent.get(f"/v1/subjects/{ext}", headers=other)).status_code == 403
    assert (await consent.get(f"/v1/receipts/{receipt['id']}", headers=other)).status_code == 404


async def test_a_portal_token_without_a_subject_acts_for_any_subject_through_exchange(
    consent, auth, token, new_id
):
    """The backend reaches every customer, one short-lived exchanged token at a time."""
    backend = token("portal")
    for _ in range(2):
        key, ext = await scene(consent, auth, new_id)
        exchanged = await consent.post(
            "/v1/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": backend,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "subject": ext,
            },
        )
        assert exchanged.status_code == 200, exchanged.text
        bound = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
        granted = await consent.post(
            f"/v1/subjects/{ext}/consents",
            json={"purpose": key, "channel": "email", "action": "grant"},
            headers=bound,
        )
        assert granted.status_code == 201, granted.text
        assert (await consent.get(f"/v1/subjects/{ext}", headers=bound)).status_code == 200
        receipt = await consent.get(
            f"/v1/receipts/{granted.json()['receipt']['id']}", headers=bound
        )
        assert receipt.status_code == 200, receipt.text
        # The backend's own token reads none of it.
        direct = await consent.get(
            f"/v1/subjects/{ext}", headers={"Authorization": f"Bearer {backend}"}
        )
        assert direct.status_code == 403
