"""The consent service application: ``create_app(settings)`` builds it; nothing runs at import."""

from __future__ import annotations

import sys
from dataclasses import replace

from litestar import Litestar
from litestar.di import Provide

from services.consent.api.audience import EXPORT_SETTINGS_KEY, AudienceController
from services.consent.api.check import CheckController
from services.consent.api.check_pool import check_pool_lifespan
from services.consent.api.confirm import ConfirmController
from services.consent.api.connector import CONNECTOR_SECRET_KEY, ConnectorController
from services.consent.api.consents import ConsentController
from services.consent.api.deps import provide_principal
from services.consent.api.preferences import PreferenceController
from services.consent.api.privacy import (
    PRIVACY_NOTICE_KEY,
    PrivacyNoticeController,
    privacy_notice,
    warn_about_controller,
)
from services.consent.api.purposes import PurposeController
from services.consent.api.receipts import ReceiptController
from services.consent.api.request_context import LEDGER_CONTEXT_KEY
from services.consent.api.subjects import SubjectController
from services.consent.api.unsubscribe import UnsubscribeController
from services.consent.db.subjects import subject_reference
from services.consent.service.check import CheckSettings
from services.consent.service.exports import ExportSettings
from services.consent.service.receipts import LedgerContext
from services.consent.settings import DEFAULT_PORT, SERVICE, ConsentSettings, SettingsRefused
from services.consent.web.cx import CX_TEMPLATES, DSAR_URL_KEY, CxController
from services.consent.web.links_api import PreferenceLinkController
from services.consent.web.preference_centre import TEMPLATES as PREFERENCE_TEMPLATES
from services.consent.web.preference_centre import PreferenceCentreController
from shared.app_base import build_app
from shared.keys import Keyring
from shared.settings import Settings
from shared.token_exchange_api import SUBJECT_REFERENCE_KEY


def create_app(
    settings: Settings, keyring: Keyring | None = None, consent: ConsentSettings | None = None
) -> Litestar:
    consent = consent or ConsentSettings()
    ledger = LedgerContext.from_settings(settings.http.public_base_url, consent.controller)
    check = CheckSettings.from_settings(settings, consent.check)
    if check.replica is not None:
        # Read-your-writes for every client while checks read the standby: a write is
        # acknowledged only once the synchronous standby has applied it.
        database = replace(settings.database, synchronous_commit="remote_apply")
        settings = replace(settings, database=database)

    app = build_app(
        settings,
        [
            PurposeController,
            PreferenceController,
            SubjectController,
            ConsentController,
            ReceiptController,
            ConfirmController,
            CheckController,
            AudienceController,
            UnsubscribeController,
            PrivacyNoticeController,
            ConnectorController,
            CxController,
            PreferenceLinkController,
            PreferenceCentreController,
        ],
        title="Lupa consent service",
        keyring=keyring,
        state={
            LEDGER_CONTEXT_KEY: ledger,
            EXPORT_SETTINGS_KEY: ExportSettings.from_settings(settings, consent.export),
            PRIVACY_NOTICE_KEY: privacy_notice(consent.controller, ledger.controller),
            CONNECTOR_SECRET_KEY: consent.connector_secret,
            DSAR_URL_KEY: consent.dsar_url,
            SUBJECT_REFERENCE_KEY: subject_reference,
        },
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        lifespan=[check_pool_lifespan(check)],
        templates=[CX_TEMPLATES, PREFERENCE_TEMPLATES],
    )
    warn_about_controller(consent.controller)  # after build_app has configured logging
    return app


def create_app_from_env() -> Litestar:
    """Entry point for ``lupa serve consent`` (uvicorn factory)."""
    settings = Settings.from_env(SERVICE, default_port=DEFAULT_PORT)
    try:
        return create_app(settings, consent=ConsentSettings.from_env())
    except SettingsRefused as refused:
        # One line naming the setting, not a traceback out of the server's factory loader.
        print(f"lupa consent: refusing to start: {refused}", file=sys.stderr)
        raise SystemExit(2) from None
