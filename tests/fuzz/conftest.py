"""The apps Schemathesis sends its cases to, on the suite's PostgreSQL.

Each app here is built afresh (not the suite's ``consent_app``/``dsar_app``): Schemathesis runs
ASGI apps on its own event-loop thread and starts their lifespan there, so the database pools
they open must belong to that loop, not to pytest-asyncio's.
"""

from __future__ import annotations

import pytest
from litestar import Litestar

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
