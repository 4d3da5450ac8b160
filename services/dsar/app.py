"""The DSAR service application: ``create_app(settings)`` builds it; nothing runs at import."""

from __future__ import annotations

from dataclasses import replace

from litestar import Litestar
from litestar.di import Provide

from services.dsar.api.connectors import ConnectorController
from services.dsar.api.deps import DSAR_SETTINGS_KEY, provide_principal
from services.dsar.api.jobs import JobCallbackController, JobOfficerController
from services.dsar.api.packages import PackageController
from services.dsar.api.requests import RequestController
from services.dsar.api.stats import StatsController
from services.dsar.db.metrics import dsar_families
from services.dsar.settings import DEFAULT_PORT, SERVICE, DsarSettings
from services.dsar.web.console import ConsoleController
from services.dsar.web.pages import TEMPLATES
from services.dsar.web.request_form import RequestFormController
from shared.app_base import build_app
from shared.keys import Keyring
from shared.settings import Settings


def create_app(
    settings: Settings, keyring: Keyring | None = None, dsar: DsarSettings | None = None
) -> Litestar:
    # Links, callbacks and receipts name the service by the URL the kernel's settings give it.
    dsar = replace(dsar or DsarSettings(), public_url=settings.http.public_base_url)
    return build_app(
        settings,
        [
            RequestController,
            ConnectorController,
            PackageController,
            JobCallbackController,
            JobOfficerController,
            StatsController,
            ConsoleController,
            RequestFormController,
        ],
        title="Lupa DSAR service",
        keyring=keyring,
        state={DSAR_SETTINGS_KEY: dsar},
        templates=[TEMPLATES],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        metrics_sources=[dsar_families],
    )


def create_app_from_env() -> Litestar:
    """Entry point for ``lupa serve dsar`` (uvicorn factory)."""
    settings = Settings.from_env(SERVICE, default_port=DEFAULT_PORT)
    return create_app(settings, dsar=DsarSettings.from_env())
