"""The life of a data-subject request: which status may follow which, and which officer
action is allowed in which status. Pure rules; the service applies them."""

from __future__ import annotations

from typing import Literal

RequestType = Literal[
    "access", "portability", "rectification", "erasure", "restriction", "objection"
]
REQUEST_TYPES: tuple[RequestType, ...] = (
    "access",
    "portability",
    "rectification",
    "erasure",
    "restriction",
    "objection",
)
Status = Literal[
    "identity_pending",
    "received",
    "in_progress",
    "awaiting_requester",
    "completed",
    "rejected",
    "withdrawn",
]
FINAL: frozenset[str] = frozenset({"completed", "rejected", "withdrawn"})
# The clock stands still in these (Art. 12(3) with 12(6)): Lupa is waiting for the requester.
PAUSED: frozenset[str] = frozenset({"identity_pending", "awaiting_requester"})

# action -> the statuses it may be taken in
ALLOWED_IN: dict[str, frozenset[str]] = {
    "verify": frozenset({"identity_pending"}),
    "approve": frozenset({"received"}),
    "pause": frozenset({"received", "in_progress"}),
    "answer": frozenset({"awaiting_requester"}),
    "extend": frozenset({"received", "in_progress", "awaiting_requester"}),
    "reject": frozenset({"identity_pending", "received", "awaiting_requester"}),
    "withdraw": frozenset({"identity_pending", "received", "awaiting_requester"}),
    "assign": frozenset({"identity_pending", "received", "in_progress", "awaiting_requester"}),
    "note": frozenset(
        {
            "identity_pending",
            "received",
            "in_progress",
            "awaiting_requester",
            "completed",
            "rejected",
            "withdrawn",
        }
    ),
}

WHY_NOT: dict[str, str] = {
    "verify": "Only a request waiting for identity can be verified.",
    "approve": "Only a verified request that is not yet being executed can be approved.",
    "pause": "Only a request being worked can wait for the requester.",
    "answer": "The request is not waiting for the requester.",
    "extend": "Only an open request can be extended.",
    "reject": "A request already executed or closed cannot be rejected.",
    "withdraw": "A request already executed or closed cannot be withdrawn.",
    "assign": "A closed request cannot be assigned.",
    "note": "",
}


def may(action: str, status: str) -> bool:
    return status in ALLOWED_IN[action]
