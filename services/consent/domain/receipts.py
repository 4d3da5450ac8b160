"""Consent receipts: the claims of a Kantara Consent Receipt v1.1 / ISO/IEC TS 27560 record.

Pure: builds the claim set for one ledger event. Signing and storage happen in the service.
Field names follow the Kantara specification; ISO 27560 fields it lacks (legal basis, event
type and state, withdrawal method, purpose version, who gave it, the notice and its version,
the controller as a party, storage location, schema version) sit beside them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.consent.domain.consents import NewEvent
from shared.auth.kinds import TokenKind

RECEIPT_VERSION = "KI-CR-v1.1.0"
# The layout of Lupa's claim set (Kantara fields plus the ISO/IEC TS 27560 ones beside them);
# raised whenever a claim is added, renamed or changes meaning. 2: controller details,
# vocabulary categories, notice, party, storage location.
RECEIPT_SCHEMA_VERSION = "lupa-consent-receipt/2"
# A receipt is evidence for years: one signed before receipts had their own header typ and
# aud (header typ "JWT", only the claim typ "consent-receipt") still verifies as a receipt.
RECEIPT_TOKEN = TokenKind(
    claim="consent-receipt",
    header_typ="consent-receipt+jwt",
    audience="urn:lupa:consent-receipt",
    accepts_legacy=True,
)
LEGAL_BASIS_ARTICLES = {
    "consent": "GDPR Art. 6(1)(a)",
    "contract": "GDPR Art. 6(1)(b)",
    "legal_obligation": "GDPR Art. 6(1)(c)",
    "legitimate_interest": "GDPR Art. 6(1)(f)",
}


@dataclass(frozen=True)
class ControllerIdentity:
    """Who is responsible for the processing, as printed on every receipt."""

    name: str
    contact: str
    jurisdiction: str
    policy_url: str
    address: str | None = None
    email: str | None = None
    phone: str | None = None
    url: str | None = None
    storage_location: str | None = None  # None: the jurisdiction

    @property
    def party_id(self) -> str:
        """The controller as an ISO 27560 party: its web address, else its name."""
        return self.url or self.name

    def as_pii_controller(self) -> dict[str, Any]:
        """Kantara CR v1.1 ``piiControllers[]`` entry; details not configured are left out
        (the service warns at start-up while required ones are missing)."""
        entry: dict[str, Any] = {
            "piiController": self.name,
            "contact": self.contact,
            "onBehalf": False,
        }
        if self.address:
            entry["address"] = {"streetAddress": self.address}
        if self.email:
            entry["email"] = self.email
        if self.phone:
            entry["phone"] = self.phone
        if self.url:
            entry["piiControllerUrl"] = self.url
        return entry


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """One ledger event (as it is about to be appended, under its id), its purpose's terms and
    the title of its version; no personal data. Nothing here waits for the database, so the
    receipt is signed before the statement that stores it with its event."""

    receipt_id: uuid.UUID
    subject_id: uuid.UUID
    language: str
    event_id: uuid.UUID
    event: NewEvent
    purpose_title: str


def termination(validity_days: int | None) -> str:
    if validity_days is None:
        return "Until withdrawn."
    return f"P{validity_days}D after consentTimestamp, or earlier when withdrawn."


def withdrawal_method(channel: str) -> str:
    return (
        f"One action, as easy as giving: the preference centre, the unsubscribe link in "
        f"every {channel} message, or action 'withdraw' on the consents API."
    )


def _purpose(facts: ReceiptFacts) -> dict[str, Any]:
    event, purpose = facts.event, facts.event.purpose
    return {
        "purpose": facts.purpose_title,
        "purposeCategory": [purpose.purpose_category],
        "purposeVersion": event.version,
        "consentType": "EXPLICIT" if purpose.legal_basis == "consent" else "NOT_CONSENT",
        "legalBasis": LEGAL_BASIS_ARTICLES.get(purpose.legal_basis, purpose.legal_basis),
        "piiCategory": list(purpose.pii_categories),
        "primaryPurpose": True,
        "termination": termination(purpose.validity_days),
        "thirdPartyDisclosure": purpose.sale_or_sharing,
        "channel": event.channel,
    }


def receipt_claims(
    facts: ReceiptFacts, controller: ControllerIdentity, issued_at: datetime
) -> dict[str, Any]:
    """The claim set signed into the receipt's compact JWS (a JSON object by definition)."""
    event = facts.event
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": controller.jurisdiction,
        "consentTimestamp": int(event.occurred_at.timestamp()),
        "collectionMethod": event.collection_method,
        "consentReceiptID": str(facts.receipt_id),
        "language": facts.language,
        "piiPrincipalId": str(facts.subject_id),
        "piiControllers": [controller.as_pii_controller()],
        "policyUrl": controller.policy_url,
        # ISO/IEC TS 27560: the notice shown is the purpose's text at this version, published
        # under the policy URL; the controller as a party; where the record is kept.
        "notice": {
            "id": f"urn:lupa:purpose:{event.purpose.key}",
            "version": event.version,
            "url": controller.policy_url,
        },
        "parties": [{"id": controller.party_id, "type": "controller", "name": controller.name}],
        "storageLocation": controller.storage_location or controller.jurisdiction,
        "schemaVersion": RECEIPT_SCHEMA_VERSION,
        "services": [{"service": event.purpose.key, "purposes": [_purpose(facts)]}],
        "sensitive": False,
        "spiCat": [],
        "event": {
            "id": str(facts.event_id),
            "type": event.action,
            "state": event.state,
            "time": event.occurred_at.isoformat(),
            "source": event.source,
            "givenBy": event.given_by,
        },
        "withdrawalMethod": withdrawal_method(event.channel),
        "retention": "Kept as evidence for as long as the consent is relied on, then as "
        "long as claims about it can be made.",
        "sub": str(facts.subject_id),
        "jti": str(facts.receipt_id),
        "iat": int(issued_at.timestamp()),
    }
