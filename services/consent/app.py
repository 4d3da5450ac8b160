"""The consent service application: ``create_app(settings)`` builds it; nothing runs at import."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from services.consent.api.audience import AudienceController
from services.consent.api.check import CheckController
from services.consent.api.confirm import ConfirmController
from services.consent.api.consents import ConsentController
from services.consent.api.deps import provide_principal
from services.consent.api.preferences import PreferenceController
from services.consent.api.purposes import PurposeController
from services.consent.api.receipts import ReceiptController
from services.consent.api.request_context import LEDGER_CONTEXT_KEY
from services.consent.api.subjects import SubjectController
from services.consent.api.unsubscribe import UnsubscribeController
from services.consent.service.check import check_lifespan
from services.consent.service.receipts import LedgerContext
from shared.app_base import build_app
from shared.audit.api import AuditController, WebhookController
from shared.keys import Keyring
from shared.settings import Settings


def create_app(settings: Settings, keyring: Keyring | None = None) -> Litestar:
    ledger = LedgerContext.from_settings(settings.http.public_base_url, settings.extra)
    return build_app(
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
            AuditController,
            WebhookController,
        ],
        title="Lupa consent service",
        keyring=keyring,
        state={LEDGER_CONTEXT_KEY: ledger},
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        lifespan=[check_lifespan],
    )


def create_app_from_env() -> Litestar:
    """Entry point for ``lupa serve consent`` (uvicorn factory)."""
    return create_app(Settings.from_env("consent"))
