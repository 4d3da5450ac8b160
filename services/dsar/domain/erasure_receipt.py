"""The signed erasure receipt's claims: per system, what was erased, not held, or kept.

Pure: the service signs these claims as a JWS of kind ``ERASURE_RECEIPT``. The person is
named by the request id only, so the receipt holds no personal data and outlives the erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.dsar.domain.package import REASON_NOT_STATED, RequestFacts, SystemAnswer

RECEIPT_FORMAT = "lupa-erasure-receipt/1"
# A job's final status as the receipt says it. ``skipped``: the officer decided not to ask the
# system (their reason is given); ``not_answered``: it never gave a final answer.
RESULT_OF_JOB = {
    "done": "erased",
    "not_found": "not_held",
    "exempt": "kept",
    "skipped": "skipped",
}


def system_result(answer: SystemAnswer) -> dict[str, str]:
    """One system's line of the receipt; kept and skipped always say why."""
    result = RESULT_OF_JOB.get(answer.status, "not_answered")
    line = {"name": answer.name, "result": result}
    if result in ("kept", "skipped"):
        line["reason"] = answer.reason or REASON_NOT_STATED
    elif answer.reason:
        line["reason"] = answer.reason
    return line


def receipt_claims(
    request: RequestFacts,
    systems: Sequence[SystemAnswer],
    *,
    issuer: str,
    receipt_id: str,
    issued_at: datetime,
) -> dict[str, Any]:
    """The claim set of an erasure receipt for a completed erasure request."""
    if request.type != "erasure":
        raise ValueError(f"a {request.type} request has no erasure receipt")
    return {
        "iss": issuer,
        "jti": receipt_id,
        "iat": int(issued_at.timestamp()),
        "format": RECEIPT_FORMAT,
        "request": str(request.id),
        "received_at": request.received_at.isoformat(),
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "systems": [system_result(answer) for answer in systems],
    }
