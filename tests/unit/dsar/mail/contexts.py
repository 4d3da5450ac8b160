"""A full context for every mail template: what a caller must pass (docs/dsar-mail.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

REQUEST_ID = "5b7c1f0e-2d3a-4c4e-9f1a-0d2e3f4a5b6c"
# 22:30 UTC on New Year's Eve is already 1 January in Helsinki.
DUE = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)

FULL_CONTEXTS: dict[str, dict[str, Any]] = {
    "identity_code": {"code": "493817", "valid_minutes": 15},
    "request_received": {"request_id": REQUEST_ID, "request_type": "access", "due_at": DUE},
    "request_extended": {
        "request_id": REQUEST_ID,
        "request_type": "erasure",
        "due_at": DUE,
        "reason": "REASON-TEXT",
    },
    "request_rejected": {
        "request_id": REQUEST_ID,
        "request_type": "objection",
        "reason": "REASON-TEXT",
    },
    "awaiting_requester": {
        "request_id": REQUEST_ID,
        "question": "QUESTION-TEXT",
        "answer_url": "https://privacy.example/answer/abc",
    },
    "request_completed": {"request_id": REQUEST_ID, "request_type": "restriction"},
    "package_ready": {
        "request_id": REQUEST_ID,
        "download_url": "https://privacy.example/download/xyz",
        "expires_at": DUE,
    },
    "erasure_receipt": {
        "request_id": REQUEST_ID,
        "receipt": "eyJhbGciOiJFZERTQSJ9.eyJ9.c2ln",
        "verify_url": "https://privacy.example/.well-known/jwks.json",
    },
    "restriction_lifting": {"request_id": REQUEST_ID, "lift_at": DUE},
    "request_closed_unverified": {"request_id": REQUEST_ID},
}
