"""Apps with small public limits, a trusted proxy and one CORS origin, whose client address
a test chooses.

``X-Test-Peer`` stands in for the TCP peer address (the ASGI ``client``), which the test
client otherwise fixes to one value; everything past it (trusted proxies, forwarded headers,
the counting) is the app's own. Addresses and tokens are random per test, so the tests share
the run's database without counting each other's hits.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar

from shared.settings import PublicLimits, Settings
from tests.openapi_judge import JudgedClient, load_document

LIMITS = PublicLimits(link_per_ip=4, link_per_token=2, sign_in_per_ip=2)
PROXIES = (ipaddress.ip_network("10.99.0.0/16"),)
ORIGIN = "https://app.example.com"


def with_peer_header(app: Litestar) -> Litestar:
    inner = app.asgi_handler

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"x-test-peer":
                scope = {**scope, "client": (value.decode(), 40000)}
        await inner(scope, receive, send)

    app.asgi_handler = handler
    return app


def limited(settings: Settings) -> Settings:
    http = replace(settings.http, trusted_proxies=PROXIES, cors_origins=(ORIGIN,))
    return replace(settings, limits=LIMITS, http=http)


@pytest.fixture
def new_ip() -> Callable[[], str]:
    """A random documentation-range-like address no other test uses."""
    return lambda: f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


@pytest.fixture(scope="session")
async def limited_consent(
    consent_settings: Settings, keyring: Any, connector_secret: str
) -> AsyncIterator[JudgedClient]:
    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    app = create_app(
        limited(consent_settings),
        keyring=keyring,
        consent=ConsentSettings(connector_secret=connector_secret),
    )
    async with JudgedClient(app=with_peer_header(app), base_url="http://testserver.local") as c:
        c.document = await load_document(c)
        yield c


@pytest.fixture(scope="session")
async def limited_dsar(dsar_settings: Settings, keyring: Any) -> AsyncIterator[JudgedClient]:
    from services.dsar.app import create_app
    from services.dsar.settings import DsarSettings, RateLimits

    dsar = DsarSettings(limits=RateLimits(intake_per_ip=3, intake_per_address=100, verify_per_ip=3))
    app = create_app(limited(dsar_settings), keyring=keyring, dsar=dsar)
    async with JudgedClient(
        app=with_peer_header(app), base_url="http://dsar.testserver.local"
    ) as c:
        c.document = await load_document(c)
        yield c


def assert_limited(response: Any) -> None:
    """429 as problem+json with a whole-seconds Retry-After that the body repeats."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "urn:lupa:problem:rate-limited"
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= LIMITS.window_s and body["retry_after"] == wait


@pytest.fixture
def pages_of() -> Iterator[Callable[[JudgedClient], JudgedClient]]:
    """The same client for web pages, which the OpenAPI document does not describe: judging
    is off until the test ends."""
    paused: list[tuple[JudgedClient, Any]] = []

    def pages(client: JudgedClient) -> JudgedClient:
        paused.append((client, client.document))
        client.document = None
        return client

    yield pages
    for client, document in paused:
        client.document = document
