"""The DSAR service's public endpoints (intake without a token, one-time codes, resending a
code, package download links, the public form) count per client address (and per link);
past the limit: a 429 that files, verifies and mails nothing, while other addresses go on."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from services.dsar.web.pages import CATALOGUE
from tests.api.hardening.conftest import LIMITS, assert_limited
from tests.api.pages.console.test_console_pages import Page

INTAKE_PER_IP = 3  # the limited_dsar fixture's intake_per_ip and verify_per_ip


def _from(ip: str) -> dict[str, str]:
    return {"X-Test-Peer": ip}


async def _file(client, new_id, ip) -> dict:
    body = {"type": "access", "email": f"{new_id('rl')}@example.fi"}
    resp = await client.post("/v1/requests", json=body, headers=_from(ip))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _filed(session_factory) -> int:
    """Requests filed so far, as the database holds them."""
    async with session_factory() as session:
        return int((await session.execute(text("SELECT count(*) FROM dsar_requests"))).scalar_one())


async def test_intake_past_the_address_limit_files_nothing(
    limited_dsar, session_factory, new_id, new_ip
):
    here = new_ip()
    for _ in range(INTAKE_PER_IP):
        await _file(limited_dsar, new_id, here)
    before = await _filed(session_factory)
    body = {"type": "erasure", "email": f"{new_id('rl')}@example.fi"}
    assert_limited(await limited_dsar.post("/v1/requests", json=body, headers=_from(here)))
    assert await _filed(session_factory) == before
    assert (
        await limited_dsar.post("/v1/requests", json=body, headers=_from(new_ip()))
    ).status_code == 201


async def test_codes_past_the_address_limit_use_no_attempt(limited_dsar, new_id, new_ip):
    created = await _file(limited_dsar, new_id, new_ip())
    path, here = f"/v1/requests/{created['id']}/verify", new_ip()
    wrong = {"code": "0000000"}  # seven digits: never the six-digit code that was mailed
    for _ in range(INTAKE_PER_IP):
        assert (await limited_dsar.post(path, json=wrong, headers=_from(here))).status_code == 422
    assert_limited(await limited_dsar.post(path, json=wrong, headers=_from(here)))
    elsewhere = await limited_dsar.post(path, json=wrong, headers=_from(new_ip()))
    assert elsewhere.status_code == 422
    # five attempts in all; the refused one did not count: one is left after the fourth
    assert elsewhere.json()["attempts_left"] == 1


async def test_resending_codes_past_the_address_limit_mails_nothing(limited_dsar, new_id, new_ip):
    setup = new_ip()
    ids = [(await _file(limited_dsar, new_id, setup))["id"] for _ in range(INTAKE_PER_IP)]
    here = new_ip()
    for rid in ids:
        sent = await limited_dsar.post(f"/v1/requests/{rid}/resend-code", headers=_from(here))
        assert sent.status_code == 202, sent.text
    assert_limited(
        await limited_dsar.post(f"/v1/requests/{ids[0]}/resend-code", headers=_from(here))
    )
    other = await limited_dsar.post(f"/v1/requests/{ids[0]}/resend-code", headers=_from(new_ip()))
    assert other.status_code == 202


async def test_a_download_link_is_limited_per_link_and_per_address(limited_dsar, new_ip):
    link = f"/v1/downloads/{secrets.token_urlsafe(24)}"
    for _ in range(LIMITS.link_per_token):
        assert (await limited_dsar.get(link, headers=_from(new_ip()))).status_code != 429
    assert_limited(await limited_dsar.get(link, headers=_from(new_ip())))
    here = new_ip()
    for _ in range(LIMITS.link_per_ip):
        fresh = f"/v1/downloads/{secrets.token_urlsafe(24)}"
        assert (await limited_dsar.get(fresh, headers=_from(here))).status_code != 429
    fresh = f"/v1/downloads/{secrets.token_urlsafe(24)}"
    assert_limited(await limited_dsar.get(fresh, headers=_from(here)))
    assert (await limited_dsar.get(fresh, headers=_from(new_ip()))).status_code != 429


async def test_the_public_form_past_the_limit_says_so_and_files_nothing(
    limited_dsar, session_factory, new_id, new_ip, pages_of
):
    pages, here = pages_of(limited_dsar), new_ip()

    async def file(ip: str) -> object:
        form = Page((await pages.get("/request?type=access")).text).form("/request")
        data = {"form_token": form["form_token"], "type": "access"}
        return await pages.post(
            "/request", data={**data, "email": f"{new_id('f')}@example.fi"}, headers=_from(ip)
        )

    for _ in range(INTAKE_PER_IP):
        assert (await file(here)).status_code == 201
    before = await _filed(session_factory)
    refused = await file(here)
    # a person's page (in their language), with the Retry-After a program would read
    assert refused.status_code == 429
    assert CATALOGUE.for_language("en")["err_rate"] in Page(refused.text).text
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert await _filed(session_factory) == before
    assert (await file(new_ip())).status_code == 201
