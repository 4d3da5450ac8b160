"""Answers as the systems give them: the consent service's access data and another system's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.dsar.domain.package import ControllerInfo, RequestFacts, SystemAnswer

CONTROLLER = ControllerInfo(name="Esimerkki Oy", contact="tietosuoja@esimerkki.fi")
GENERATED = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def consent_data(name: str = "Maija Meikäläinen") -> dict[str, Any]:
    return {
        "subject": {
            "external_id": "cust-1",
            "email": "maija@example.com",
            "phone": "+358401234567",
            "name": name,
            "birth_date": None,
            "locale": "fi",
            "created_at": "2026-01-05T10:00:00+00:00",
        },
        "consents": [{"purpose": "newsletter", "channel": "email", "state": "granted"}],
        "history": [{"purpose": "newsletter", "action": "grant", "at": "2026-01-05T10:00:00Z"}],
        "preferences": {"frequency": "weekly"},
        "receipts": [{"id": "r-1"}],
        "purposes": [
            {
                "key": "newsletter",
                "title": {"en": "Newsletter", "fi": "Uutiskirje", "sv": "Nyhetsbrev"},
                "description": {"en": "Monthly news", "fi": "Kuukausittaiset uutiset"},
                "legal_basis": "consent",
                "purpose_category": "marketing",
                "pii_categories": ["email", "name"],
                "channels": ["email"],
                "validity_days": 730,
                "recipients": ["Mailer Ltd"],
                "retention_days": 30,
            },
            {
                "key": "profiling",
                "title": "Offers",
                "legal_basis": "legitimate_interest",
                "pii_categories": ["purchase_history"],
                "recipients": [],
            },
        ],
    }


def request(type_: str = "access", locale: str = "fi") -> RequestFacts:
    return RequestFacts(
        id=uuid.uuid4(),
        type=type_,
        locale=locale,
        received_at=datetime(2026, 11, 20, 8, 30, tzinfo=UTC),
        completed_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )


def systems() -> list[SystemAnswer]:
    return [
        SystemAnswer("consent", "done", data=consent_data()),
        SystemAnswer("crm", "done", data={"orders": [{"id": 7, "total": "12.50"}], "tier": 2}),
        SystemAnswer("shop", "not_found"),
        SystemAnswer("books", "exempt", reason="Kirjanpitolaki 2:10 (bookkeeping, 10 years)"),
        SystemAnswer("legacy", "skipped", reason="decommissioned"),
    ]
