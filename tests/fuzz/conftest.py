"""The apps Schemathesis sends its cases to, on the suite's PostgreSQL.

Each app here is built afresh (not the suite's ``consent_app``/``dsar_app``): Schemathesis runs
ASGI apps on its own event-loop thread and starts their lifespan there, so the database pools
they open must belong to that loop, not to pytest-asyncio's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from schemathesis.python.asgi import ASGIClient, get_client

from shared.audit.webhooks import new_secret
from shared.keys import Keyring
from shared.settings import Settings


@pytest.fixture(scope="session")
def fuzz_consent_app(
    consent_settings: Settings, keyring: Keyring, connector_secret: str
) -> Litestar:
    from services.consent.app import create_app
    from services.consent.settings import ConsentSettings

    return create_app(
        consent_settings,
        keyring=keyring,
        consent=ConsentSettings(connector_secret=connector_secret),
    )


@pytest.fixture(scope="session")
def fuzz_dsar_app(dsar_settings: Settings, keyring: Keyring) -> Litestar:
    from services.dsar.app import create_app
    from services.dsar.settings import DsarSettings, RateLimits

    # One client address sends every case; the rate limits have their own tests.
    limits = RateLimits(intake_per_ip=1_000_000, verify_per_ip=1_000_000)
    return create_app(dsar_settings, keyring=keyring, dsar=DsarSettings(limits=limits))


def _client(app: Litestar, bearer: str) -> ASGIClient:
    client = get_client(app)
    client.headers["Authorization"] = f"Bearer {bearer}"
    return client


@pytest.fixture(scope="session")
def consent_resources(fuzz_consent_app: Litestar, token: Callable[..., str]) -> dict[str, str]:
    """Path parameters that name real resources, so fuzzed cases get past the 404 and into
    the handlers (a fuzzed id almost never exists)."""
    with _client(fuzz_consent_app, token("admin")) as client:
        purpose = {"legal_basis": "consent", "title": {"en": "Fuzz"}, "channels": ["email", "sms"]}
        assert client.put("/v1/purposes/fuzz-news", json=purpose).status_code in (200, 201)
        person = {"email": "fuzz@example.fi", "phone": "+358401234567", "name": "Fuzz Subject"}
        assert client.put("/v1/subjects/fuzz-subject", json=person).status_code in (200, 201)
        grant = {"purpose": "fuzz-news", "channel": "email", "action": "grant"}
        granted = client.post("/v1/subjects/fuzz-subject/consents", json=grant)
        assert granted.status_code == 201, granted.text
        links = {"purpose": "fuzz-news", "channel": "email", "subjects": ["fuzz-subject"]}
        minted = client.post("/v1/unsubscribe-links", json=links)
        assert minted.status_code == 200, minted.text
    # A real unsubscribe token: /v1/unsubscribe/{token} takes it, /v1/confirm/{token} must
    # refuse it (another kind) with a documented problem.
    link_token = minted.json()["links"][0]["url"].rstrip("/").rsplit("/", 1)[-1]
    return {
        "token": link_token,
        "key": "fuzz-news",
        "external_id": "fuzz-subject",
        "receipt_id": str(granted.json()["receipt"]["id"]),
    }


@pytest.fixture(scope="session")
def dsar_resources(fuzz_dsar_app: Litestar, token: Callable[..., str]) -> dict[str, str]:
    """A request filed from the portal, one from the public form, and a connector."""
    with _client(fuzz_dsar_app, token("portal", "fuzz-subject")) as client:
        filed = client.post("/v1/requests", json={"type": "access"})
        assert filed.status_code == 201, filed.text
    with _client(fuzz_dsar_app, token("admin")) as client:
        connector = {
            "url": "http://127.0.0.1:9/connector",
            "secret": new_secret(),
            "actions": ["access", "erasure"],
        }
        put = client.put("/v1/connectors/fuzz-crm", json=connector)
        assert put.status_code in (200, 201), put.text
    return {"request_id": str(filed.json()["id"]), "name": "fuzz-crm"}
