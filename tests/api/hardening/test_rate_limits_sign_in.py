"""The sign-in pages that take a pasted token count per client address: past the limit a
429 problem, opening no session; another address still signs in."""

from __future__ import annotations

import pytest

from tests.api.hardening.conftest import LIMITS, assert_limited
from tests.api.pages.console.test_console_pages import Page


async def _console_form(pages) -> dict[str, str]:
    return Page((await pages.get("/console/sign-in")).text).form("/console/sign-in")


@pytest.mark.parametrize("service", ["consent", "dsar"])
async def test_sign_in_past_the_address_limit_opens_no_session(
    service, limited_consent, limited_dsar, token, new_ip, pages_of
):
    client = pages_of(limited_consent if service == "consent" else limited_dsar)
    path, role = ("/cx/sign-in", "cx") if service == "consent" else ("/console/sign-in", "officer")

    async def sign_in(sent: str, ip: str):
        data = {"token": sent}
        if service == "dsar":
            data["form_token"] = (await _console_form(client))["form_token"]
        headers = {"X-Test-Peer": ip}
        return await client.post(path, data=data, headers=headers, follow_redirects=False)

    here = new_ip()
    for _ in range(LIMITS.sign_in_per_ip):
        assert (await sign_in("not-a-token", here)).status_code == 401
    refused = await sign_in(token(role), here)  # even a good token: the address is over
    assert_limited(refused)
    assert "set-cookie" not in refused.headers
    signed_in = await sign_in(token(role), new_ip())
    assert signed_in.status_code == 303 and "set-cookie" in signed_in.headers
