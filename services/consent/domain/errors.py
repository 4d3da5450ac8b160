"""The consent service's own errors (documented in docs/problems.md with the others)."""

from __future__ import annotations

from shared.errors import LupaError


class UnknownPurpose(LupaError):
    status, slug, title = 422, "unknown-purpose", "There is no such purpose"


class ChannelNotAllowed(LupaError):
    status, slug, title = 422, "channel-not-allowed", "The purpose does not use this channel"


class NotConsentBased(LupaError):
    status, slug, title = 422, "not-consent-based", "The purpose is not based on consent"


class GuardianRequired(LupaError):
    status, slug, title = 422, "guardian-required", "A guardian must give this consent"


class ConfirmationSuperseded(LupaError):
    status, slug, title = (
        410,
        "confirmation-superseded",
        "The consent changed after this link was sent",
    )
