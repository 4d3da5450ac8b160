"""Every answer tells browsers not to sniff types, not to send a Referer (links carry tokens)
and not to frame it; pages allow no inline script or style; HSTS comes with HTTPS, directly
or through a trusted proxy that terminated TLS, and never on a client's word alone."""

from __future__ import annotations

import pytest

BROWSER = {"Accept": "text/html"}


def _policy(response) -> dict[str, str]:
    """The CSP's directives, name -> sources."""
    parts = [p.strip() for p in response.headers["content-security-policy"].split(";") if p.strip()]
    return {name: rest for name, _, rest in (p.partition(" ") for p in parts)}


def _assert_protected(response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = _policy(response)
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("dsar", "/request"),
        ("dsar", "/console/sign-in"),
        ("consent", "/cx/sign-in"),
        ("consent", "/preferences"),  # no link, no session: the page that says so
        ("consent", "/privacy"),
    ],
)
async def test_pages_forbid_inline_code_and_framing(service, path, consent, dsar, pages_of):
    client = pages_of(consent if service == "consent" else dsar)
    page = await client.get(path, headers=BROWSER)
    assert page.headers["content-type"].startswith("text/html")
    _assert_protected(page)
    assert "'self'" in _policy(page)["default-src"]


async def test_api_answers_carry_the_same_protection(consent, dsar, auth):
    for answer in (
        await consent.get("/health/live"),
        await consent.get("/v1/purposes", headers=auth("admin")),
        await dsar.get("/v1/requests", headers=auth("officer")),
        await consent.get("/v1/purposes"),  # a 401 problem
    ):
        _assert_protected(answer)
        assert _policy(answer)["default-src"] == "'none'"
        assert "strict-transport-security" not in answer.headers  # plain HTTP, http public URL


async def test_hsts_over_https_and_behind_a_trusted_tls_proxy_only(limited_consent, new_ip):
    direct = await limited_consent.get("https://testserver.local/health/live")
    assert direct.headers["strict-transport-security"].startswith("max-age=31536000")
    proxied = await limited_consent.get(
        "/health/live", headers={"X-Test-Peer": "10.99.0.3", "X-Forwarded-Proto": "https"}
    )
    assert "max-age=" in proxied.headers["strict-transport-security"]
    claimed = await limited_consent.get(
        "/health/live", headers={"X-Test-Peer": new_ip(), "X-Forwarded-Proto": "https"}
    )
    assert "strict-transport-security" not in claimed.headers


async def test_an_https_public_url_always_sends_hsts(consent_settings, keyring, connector_secret):
    from dataclasses import replace

    from litestar.testing import AsyncTestClient

    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    http = replace(consent_settings.http, public_base_url="https://consent.example.com")
    app = create_app(
        replace(consent_settings, http=http),
        keyring=keyring,
        consent=ConsentSettings(connector_secret=connector_secret),
    )
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        answer = await client.get("/health/live")  # TLS ended at a proxy Lupa was not told of
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
