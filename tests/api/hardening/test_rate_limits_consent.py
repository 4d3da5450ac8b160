"""The consent service's public links (one-click unsubscribe, double opt-in confirmation, the
preference-centre sign-in link) count per client address and per link: the next use past
the limit is a 429 problem that changes nothing, and other addresses and links go on."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.api.hardening.conftest import LIMITS, assert_limited
from tests.ledger_helpers import post_consent, scene

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


async def _unsubscribe_path(client, auth, new_id):
    key, ext = await scene(client, auth, new_id)
    assert (await post_consent(client, auth, ext, key)).status_code == 201
    resp = await client.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    return key, ext, urlsplit(resp.json()["links"][0]["url"]).path


async def _allowed(client, auth, ext, key) -> bool:
    resp = await client.get(
        f"/v1/check?subject={ext}&purpose={key}&channel=email", headers=auth("marketing")
    )
    assert resp.status_code == 200, resp.text
    return bool(resp.json()["allowed"])


async def test_an_unsubscribe_link_used_past_its_limit_withdraws_nothing(
    limited_consent, auth, new_id, new_ip
):
    key, ext, path = await _unsubscribe_path(limited_consent, auth, new_id)
    for _ in range(LIMITS.link_per_token):  # the page is viewed from several addresses
        assert (
            await limited_consent.get(path, headers={"X-Test-Peer": new_ip()})
        ).status_code == 200
    refused = await limited_consent.post(path, data=ONE_CLICK, headers={"X-Test-Peer": new_ip()})
    assert_limited(refused)
    assert await _allowed(limited_consent, auth, ext, key)  # still consented: nothing changed
    _, _, other = await _unsubscribe_path(limited_consent, auth, new_id)
    assert (await limited_consent.get(other, headers={"X-Test-Peer": new_ip()})).status_code == 200


async def test_one_address_using_many_links_is_limited_and_another_address_is_not(
    limited_consent, auth, new_id, new_ip
):
    here, elsewhere = {"X-Test-Peer": new_ip()}, {"X-Test-Peer": new_ip()}
    for _ in range(LIMITS.link_per_ip):  # each link once: only the address's count grows
        path = (await _unsubscribe_path(limited_consent, auth, new_id))[2]
        assert (await limited_consent.get(path, headers=here)).status_code == 200
    key, ext, fresh = await _unsubscribe_path(limited_consent, auth, new_id)
    assert_limited(await limited_consent.post(fresh, data=ONE_CLICK, headers=here))
    assert await _allowed(limited_consent, auth, ext, key)
    assert (await limited_consent.post(fresh, data=ONE_CLICK, headers=elsewhere)).status_code == 200
    assert not await _allowed(limited_consent, auth, ext, key)


async def test_a_confirmation_link_past_its_limit_confirms_nothing(
    limited_consent, auth, new_id, new_ip
):
    key, ext = await scene(limited_consent, auth, new_id, double_opt_in_channels=["email"])
    path = urlsplit(
        (await post_consent(limited_consent, auth, ext, key)).json()["confirmation_url"]
    ).path
    for _ in range(LIMITS.link_per_token):
        assert (
            await limited_consent.get(path, headers={"X-Test-Peer": new_ip()})
        ).status_code == 200
    assert_limited(await limited_consent.post(path, headers={"X-Test-Peer": new_ip()}))
    state = await limited_consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    assert state.json()[0]["state"] == "pending"


async def test_a_preference_link_signs_in_only_within_its_limit(
    limited_consent, auth, new_id, new_ip, pages_of
):
    _, ext = await scene(limited_consent, auth, new_id)
    made = await limited_consent.post(
        f"/v1/subjects/{ext}/preference-links", headers=auth("portal", ext)
    )
    link = urlsplit(made.json()["url"])
    target, pages = f"{link.path}?{link.query}", pages_of(limited_consent)
    for _ in range(LIMITS.link_per_token):
        opened = await pages.get(target, headers={"X-Test-Peer": new_ip()})
        assert opened.status_code in (200, 303), opened.text
    refused = await pages.get(target, headers={"X-Test-Peer": new_ip()})
    assert_limited(refused)
    assert "set-cookie" not in refused.headers  # no session was opened


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    limited_consent, auth, new_id, new_ip
):
    fresh = iter(
        [(await _unsubscribe_path(limited_consent, auth, new_id))[2] for _ in range(11)]
    )  # each link used once, so only addresses are counted
    untrusted = new_ip()
    for _ in range(LIMITS.link_per_ip):  # a client claiming a new address each time
        spoofed = {"X-Test-Peer": untrusted, "X-Forwarded-For": new_ip()}
        assert (await limited_consent.get(next(fresh), headers=spoofed)).status_code == 200
    spoofed = {"X-Test-Peer": untrusted, "X-Forwarded-For": new_ip()}
    assert_limited(await limited_consent.get(next(fresh), headers=spoofed))
    # Behind the load balancer (a trusted proxy) each client has its own count: the
    # rightmost address the proxy did not add itself (what is left of it, the client wrote).
    client = new_ip()
    for _ in range(LIMITS.link_per_ip):
        via = {"X-Test-Peer": "10.99.0.7", "X-Forwarded-For": f"{new_ip()}, {client}"}
        assert (await limited_consent.get(next(fresh), headers=via)).status_code == 200
    via = {"X-Test-Peer": "10.99.0.7", "X-Forwarded-For": client}
    assert_limited(await limited_consent.get(next(fresh), headers=via))
    other = {"X-Test-Peer": "10.99.0.7", "X-Forwarded-For": new_ip()}
    assert (await limited_consent.get(next(fresh), headers=other)).status_code == 200
