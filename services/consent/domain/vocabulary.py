"""The fixed words of the consent domain: channels, locales, legal bases, sources, key shapes."""

from __future__ import annotations

import re
from typing import Literal

# A purpose key and a topic slug: lower-case letters and digits, then also '_' and '-' (and '.'
# in a key), 64 characters at most. The purposes table checks the same shape (migration c0001).
PURPOSE_KEY_SHAPE = r"[a-z0-9][a-z0-9_.-]{0,63}"
TOPIC_SLUG_SHAPE = r"[a-z0-9][a-z0-9_-]{0,63}"
# The end of a pattern: ``$`` alone lets one final newline through ("news\n" would match).
END = r"(?!\n)$"
PURPOSE_KEY_PATTERN = f"^{PURPOSE_KEY_SHAPE}{END}"
TOPIC_SLUG_PATTERN = f"^{TOPIC_SLUG_SHAPE}{END}"
PURPOSE_KEY = re.compile(PURPOSE_KEY_PATTERN)
TOPIC_SLUG = re.compile(TOPIC_SLUG_PATTERN)

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

# Kantara Consent Receipt Specification v1.1.0, Appendix: purpose categories (its example
# receipts prefix each with its number, "2 - Contracted Service"; a receipt carries the name).
PurposeCategory = Literal[
    "Core Function",
    "Contracted Service",
    "Delivery",
    "Contact Requested",
    "Personalized Experience",
    "Marketing",
    "Marketing Third Parties",
    "Sharing for Delivery",
    "Sharing for Marketing",
    "3rd Party Sharing for Core Function",
    "3rd Party Sharing for",
    "Legally Required Data Retention",
    "Required by Law Enforcement or Government",
    "Protecting Your Health",
    "Protecting Our Interests",
    "Improve Performance",
]
# The same specification's categories of personal information.
PiiCategory = Literal[
    "Biographical",
    "Contact",
    "Biometric",
    "Communications/Social",
    "Network/Service",
    "Health",
    "Financial",
    "Official ID",
    "Social Network",
]
# What a purpose defined without categories carries (Lupa's purposes are mostly messaging).
DEFAULT_PURPOSE_CATEGORY = "Marketing"
DEFAULT_PII_CATEGORIES: tuple[str, ...] = ("Contact",)
