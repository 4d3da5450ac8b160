"""CORS is closed unless the operator lists origins (``LUPA_CORS_ORIGINS``): then exactly
those origins, never ``*``, never with credentials; every other origin gets no CORS header,
so a browser keeps the answer from the page that asked."""

from __future__ import annotations

import pytest

from shared.settings import cors_origins_from
from tests.api.hardening.conftest import ORIGIN

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization",
}


async def test_a_listed_origin_passes_preflight_and_reads_answers(limited_consent, auth):
    pre = await limited_consent.options("/v1/check", headers={"Origin": ORIGIN, **PREFLIGHT})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers
    simple = await limited_consent.get("/v1/purposes", headers={"Origin": ORIGIN, **auth("admin")})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in simple.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com.evil", "null"])
async def test_other_origins_get_no_cors_headers(limited_consent, auth, origin):
    pre = await limited_consent.options("/v1/check", headers={"Origin": origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in pre.headers
    simple = await limited_consent.get("/v1/purposes", headers={"Origin": origin, **auth("admin")})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_is_closed_when_no_origin_is_configured(consent, dsar, auth):
    for client in (consent, dsar):
        pre = await client.options("/v1/requests", headers={"Origin": ORIGIN, **PREFLIGHT})
        assert "access-control-allow-origin" not in pre.headers
        simple = await client.get("/health/live", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("bad", ["*", "app.example.com", "https://app.example.com/path", "ftp://x"])
def test_wildcards_and_non_origins_are_refused_at_start_up(bad):
    with pytest.raises(ValueError, match="LUPA_CORS_ORIGINS"):
        cors_origins_from(f"https://ok.example, {bad}")
