"""Consent ledger rules: which event a request makes, and what a stored state means at read time.

Pure: no storage, no framework. The service feeds it the purpose's terms, the stored state and
the subject's age, and writes whatever it decides. A ledger event is ``NewEvent`` on its way in
and ``LedgerEvent`` once recorded; every layer uses these two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import msgspec

from services.consent.domain import validity
from services.consent.domain.errors import ChannelNotAllowed, GuardianRequired, NotConsentBased
from services.consent.domain.purposes import Purpose
from shared.errors import InvalidInput

# The collection method implied by a source when the caller does not name one.
DEFAULT_COLLECTION_METHOD = {
    "portal": "web_form",
    "api": "api",
    "import": "import",
    "call_centre": "verbal",
    "preference_centre": "web_form",
    "one_click_unsubscribe": "one_click",
    "double_opt_in": "email_link",
    "system": "automatic",
}
# Audit event type per (ledger action, resulting state).
AUDIT_TYPES = {
    ("grant", "granted"): "consent.granted",
    ("grant", "pending"): "consent.pending",
    ("withdraw", "withdrawn"): "consent.withdrawn",
    ("confirm", "granted"): "consent.confirmed",
    ("expire", "expired"): "consent.expired",
    ("object", "objected"): "consent.objected",
}
NOTHING_GRANTED = (
    "Nothing was granted for this purpose and channel; the withdrawal was recorded anyway."
)
NOT_CONSENT_BASED = (
    "This purpose is not based on consent; the withdrawal was recorded, "
    "but stopping its processing needs an objection."
)


@dataclass(frozen=True)
class ConsentRequest:
    """A grant or withdrawal as the subject (or someone for them) expressed it."""

    purpose: str
    channel: str
    action: str
    source: str
    collection_method: str
    given_by: str = "subject"
    page: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PurposeTerms:
    """The parts of a purpose that decide what a consent event means."""

    key: str
    legal_basis: str
    channels: tuple[str, ...]
    double_opt_in_channels: tuple[str, ...]
    validity_days: int | None
    min_age: int | None
    current_version: int
    min_accepted_version: int

    @classmethod
    def of(cls, purpose: Purpose) -> PurposeTerms:
        return cls(
            key=purpose.key,
            legal_basis=purpose.legal_basis,
            channels=tuple(purpose.channels),
            double_opt_in_channels=tuple(purpose.double_opt_in_channels),
            validity_days=purpose.validity_days,
            min_age=purpose.min_age,
            current_version=purpose.current_version,
            min_accepted_version=purpose.min_accepted_version,
        )


@dataclass(frozen=True)
class StoredState:
    """The projection row for one purpose and channel, as last written."""

    state: str
    purpose_version: int
    granted_at: datetime | None


class LedgerEvent(msgspec.Struct, frozen=True):
    """One ledger event as recorded, without its evidence hashes or sealed reason."""

    event_id: uuid.UUID
    purpose_key: str
    purpose_version: int
    channel: str
    action: str
    state: str
    source: str
    actor: str
    given_by: str
    collection_method: str
    page: str | None
    occurred_at: datetime
    recorded_at: datetime


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A ledger event to append: the database gives it its id and ``recorded_at``.

    ``purpose`` carries the terms its receipt states; ``reason`` is sealed before it is stored.
    """

    purpose: Purpose
    version: int
    channel: str
    action: str
    state: str
    source: str
    actor: str
    given_by: str
    collection_method: str
    occurred_at: datetime
    page: str | None = None
    ip_hash: bytes | None = None
    ua_hash: bytes | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Effective:
    """What a stored state means now: expiry and renewal are computed here, never stored first."""

    state: str
    expires_at: datetime | None
    renewal_required: bool


@dataclass(frozen=True)
class Decision:
    """The ledger event a request turns into."""

    state: str
    version: int
    notice: str | None
    needs_confirmation: bool


def effective(stored: StoredState, terms: PurposeTerms, now: datetime) -> Effective:
    """A granted consent past its validity reads as expired; an old version needs renewal."""
    if stored.state != "granted":
        return Effective(stored.state, None, False)
    expires_at = None
    if terms.validity_days is not None and stored.granted_at is not None:
        expires_at = validity.expires_at(stored.granted_at, terms.validity_days)
        if expires_at < now:
            return Effective("expired", expires_at, False)
    return Effective("granted", expires_at, stored.purpose_version < terms.min_accepted_version)


def decide(
    request: ConsentRequest,
    terms: PurposeTerms,
    stored: StoredState | None,
    age: int | None,
    now: datetime,
) -> Decision:
    """Grant or withdraw: refuse what cannot be consent, record every withdrawal."""
    if request.action == "withdraw":
        return _withdrawal(request, terms, stored, now)
    return _grant(request, terms, stored, age, now)


def _grant(
    request: ConsentRequest,
    terms: PurposeTerms,
    stored: StoredState | None,
    age: int | None,
    now: datetime,
) -> Decision:
    if request.reason is not None:
        raise InvalidInput("A reason is recorded only with a withdrawal.", field="reason")
    if terms.legal_basis != "consent":
        raise NotConsentBased(
            f"The purpose is based on {terms.legal_basis}, so it cannot be granted as consent."
        )
    if request.channel not in terms.channels:
        raise ChannelNotAllowed(
            "The purpose does not use this channel.",
            channels=list(terms.channels),
        )
    if (
        terms.min_age is not None
        and age is not None
        and age < terms.min_age
        and request.given_by != "guardian"
    ):
        raise GuardianRequired(
            f"The subject is younger than {terms.min_age}; the holder of "
            "parental responsibility must give this consent "
            "(given_by: guardian)."
        )
    # A confirmed address stays confirmed: renewing a live consent needs no second opt-in.
    live = stored is not None and effective(stored, terms, now).state == "granted"
    pending = request.channel in terms.double_opt_in_channels and not live
    return Decision("pending" if pending else "granted", terms.current_version, None, pending)


def _withdrawal(
    request: ConsentRequest, terms: PurposeTerms, stored: StoredState | None, now: datetime
) -> Decision:
    # A channel dropped from the purpose may still hold a consent; it must stay withdrawable.
    if request.channel not in terms.channels and stored is None:
        raise ChannelNotAllowed(
            "The purpose does not use this channel.",
            channels=list(terms.channels),
        )
    if terms.legal_basis != "consent":
        notice: str | None = NOT_CONSENT_BASED
    elif stored is None or effective(stored, terms, now).state not in ("granted", "pending"):
        notice = NOTHING_GRANTED
    else:
        notice = None
    version = stored.purpose_version if stored is not None else terms.current_version
    return Decision("withdrawn", version, notice, False)


def expiry_due(stored: StoredState, terms: PurposeTerms, now: datetime) -> bool:
    """True when a stored grant has run past its validity and no expiry event says so yet."""
    return stored.state == "granted" and effective(stored, terms, now).state == "expired"


def audit_type(action: str, state: str) -> str:
    return AUDIT_TYPES[(action, state)]


def default_collection_method(source: str) -> str:
    return DEFAULT_COLLECTION_METHOD.get(source, "api")
