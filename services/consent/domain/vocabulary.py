"""The fixed words of the consent domain: channels, locales, legal bases, sources."""

from __future__ import annotations

from typing import Literal

Channel = Literal["email", "sms", "phone", "post", "push"]
CHANNELS: tuple[str, ...] = ("email", "sms", "phone", "post", "push")

Locale = Literal["fi", "sv", "en"]
LOCALES: tuple[str, ...] = ("fi", "sv", "en")

LegalBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]

# Where a consent change came from (ISO/IEC TS 27560 "collection method" context).
Source = Literal[
    "portal",
    "api",
    "import",
    "call_centre",
    "preference_centre",
    "one_click_unsubscribe",
    "double_opt_in",
    "system",
]

CollectionMethod = Literal[
    "web_form",
    "checkbox",
    "api",
    "verbal",
    "paper",
    "email_link",
    "one_click",
    "import",
    "automatic",
]
