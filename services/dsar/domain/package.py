"""The access/portability package: what every system holds about the requester, and the
Art. 15(1) information gathered from the purposes those systems name.

Pure: takes the request and the systems' answers (already opened), returns the JSON value
published under ``services/dsar/schemas/access-package.schema.json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FORMAT_VERSION = "lupa-access-package/1"
SCHEMA_PATH = "/v1/schemas/access-package.json"
PACKAGE_TYPES = ("access", "portability")

# What a system's job status means to the person reading the package.
STATUS_OF_JOB = {"done": "answered", "not_found": "not_held", "exempt": "exempt"}
# Art. 20: what the person provided to the consent service, as opposed to what it derived.
CONSENT_PROVIDED = ("subject", "consents", "preferences")

REASON_NOT_STATED = "no reason was recorded"

RIGHTS = (
    {"right": "access", "article": "GDPR Art. 15"},
    {"right": "rectification", "article": "GDPR Art. 16"},
    {"right": "erasure", "article": "GDPR Art. 17"},
    {"right": "restriction", "article": "GDPR Art. 18"},
    {"right": "portability", "article": "GDPR Art. 20"},
    {"right": "objection", "article": "GDPR Art. 21"},
    {"right": "withdraw_consent", "article": "GDPR Art. 7(3)"},
)
COMPLAINT = {
    "article": "GDPR Art. 77",
    "authority": "Tietosuojavaltuutetun toimisto (Office of the Data Protection Ombudsman)",
    "url": "https://tietosuoja.fi",
}
# Lupa and its connected systems take no decision based solely on automated processing.
AUTOMATED_DECISIONS = {"used": False, "article": "GDPR Art. 22"}


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The request a package or receipt answers (no personal data: the id names the person)."""

    id: uuid.UUID
    type: str
    locale: str
    received_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class SystemAnswer:
    """One connector's answer to the request's job: its status, reason, and data (access)."""

    name: str
    status: str
    reason: str | None = None
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ControllerInfo:
    """Who answers the request (Art. 15(1) and 13(1)(a)): printed in every package."""

    name: str
    contact: str
    jurisdiction: str = "FI"


def build_package(
    request: RequestFacts,
    systems: Sequence[SystemAnswer],
    controller: ControllerInfo,
    generated_at: datetime,
) -> dict[str, Any]:
    """The machine-readable package of a completed access or portability request."""
    if request.type not in PACKAGE_TYPES:
        raise ValueError(f"a {request.type} request has no package")
    portable = request.type == "portability"
    return {
        "format": FORMAT_VERSION,
        "schema": SCHEMA_PATH,
        "request": {
            "id": str(request.id),
            "type": request.type,
            "locale": request.locale,
            "received_at": request.received_at.isoformat(),
            "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        },
        "generated_at": generated_at.isoformat(),
        "controller": {
            "name": controller.name,
            "contact": controller.contact,
            "jurisdiction": controller.jurisdiction,
        },
        "systems": [system_entry(answer, portable) for answer in systems],
        "information": article_15_information(systems),
    }


def system_entry(answer: SystemAnswer, portable: bool) -> dict[str, Any]:
    """One system in the package: what it said and, when it holds data, that data."""
    entry: dict[str, Any] = {"name": answer.name, "status": STATUS_OF_JOB.get(answer.status)}
    if entry["status"] is None:  # skipped by the officer, or never answered
        entry["status"] = "skipped" if answer.status == "skipped" else "not_answered"
    if answer.reason or entry["status"] in ("exempt", "skipped"):
        entry["reason"] = answer.reason or REASON_NOT_STATED
    if answer.status == "done" and answer.data is not None:
        entry["data"] = provided_data(answer.data) if portable else dict(answer.data)
    return entry


def provided_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Art. 20 covers what the person provided: of the consent service's answer its subject,
    consents and preferences (not the ledger, receipts or purpose catalogue it derives).
    Another system's answer is what that system returned for the person, kept whole."""
    if is_consent_answer(data):
        return {key: data[key] for key in CONSENT_PROVIDED if key in data}
    return dict(data)


def is_consent_answer(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("subject"), Mapping) and isinstance(data.get("consents"), list)


def article_15_information(systems: Sequence[SystemAnswer]) -> dict[str, Any]:
    """Art. 15(1)(a)-(h) from the purposes the systems name, plus the fixed rights."""
    purposes = [
        purpose_entry(answer.name, purpose)
        for answer in systems
        if answer.status == "done" and answer.data is not None
        for purpose in _purposes_of(answer.data)
    ]
    return {
        "purposes": purposes,
        "categories": _union(p["categories"] for p in purposes),
        "recipients": _union(p["recipients"] for p in purposes),
        "sources": [
            {"system": answer.name, "source": source_of(answer.data)}
            for answer in systems
            if answer.status == "done" and answer.data is not None
        ],
        "rights": [dict(right) for right in RIGHTS],
        "complaint": dict(COMPLAINT),
        "automated_decisions": dict(AUTOMATED_DECISIONS),
    }


def source_of(data: Mapping[str, Any]) -> str:
    """Art. 15(1)(g): where a system got the data. The consent service records only what the
    person gave it; another system may say so in a ``source`` member of its answer."""
    if isinstance(data.get("source"), str):
        return str(data["source"])
    return "data_subject" if is_consent_answer(data) else "not_stated"


def purpose_entry(system: str, purpose: Mapping[str, Any]) -> dict[str, Any]:
    """A purpose as Art. 15(1) asks for it; a missing retention period says its criterion."""
    retention_days = purpose.get("retention_days")
    has_days = isinstance(retention_days, int) and not isinstance(retention_days, bool)
    return {
        "system": system,
        "key": str(purpose.get("key", "")),
        "title": _texts(purpose.get("title")),
        "description": _texts(purpose.get("description")),
        "legal_basis": purpose.get("legal_basis"),
        "purpose_category": purpose.get("purpose_category"),
        "categories": _strings(purpose.get("pii_categories")),
        "recipients": _strings(purpose.get("recipients")),
        "channels": _strings(purpose.get("channels")),
        "retention": (
            {"days": retention_days}
            if has_days
            else {"criteria": "until consent is withdrawn or the purpose ends"}
        ),
    }


def _purposes_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = data.get("purposes")
    if not isinstance(found, list):
        return []
    return [p for p in found if isinstance(p, Mapping) and isinstance(p.get("key"), str)]


def _texts(value: object) -> dict[str, str]:
    """A localised text ``{"en": ..., "fi": ...}``; a bare string reads as English."""
    if isinstance(value, str):
        return {"en": value}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if isinstance(v, str)}
    return {}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _union(lists: Iterable[list[str]]) -> list[str]:
    return sorted({item for items in lists for item in items})
