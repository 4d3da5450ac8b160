"""The signed erasure receipt: a compact JWS (EdDSA) of kind ``ERASURE_RECEIPT`` telling the
requester, per system, what was erased, not held, or kept under which Art. 17(3) exemption.

It names the person by the request id only, so it holds no personal data and stays valid after
the request's key is shredded. Anyone verifies it with the keys published at
``<iss>/.well-known/jwks.json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.dsar.domain.erasure_receipt import receipt_claims
from services.dsar.domain.package import RequestFacts, SystemAnswer
from services.dsar.service.packages import request_facts, system_answers
from shared.auth.kinds import ERASURE_RECEIPT
from shared.auth.tokens import sign_claims
from shared.errors import Conflict
from shared.keys import Keyring


def sign_erasure_receipt(
    keyring: Keyring,
    request: RequestFacts,
    systems: Sequence[SystemAnswer],
    *,
    issuer: str,
    now: datetime | None = None,
) -> str:
    """The receipt, signed with the newest signing key; ``issuer``: the DSAR service's public
    base URL (where its JWKS is)."""
    claims = receipt_claims(
        request,
        systems,
        issuer=issuer.rstrip("/"),
        receipt_id=str(uuid.uuid4()),
        issued_at=now or datetime.now(UTC),
    )
    return sign_claims(keyring, claims, ERASURE_RECEIPT)


async def erasure_receipt_for(
    session: AsyncSession, keyring: Keyring, request_id: uuid.UUID, *, issuer: str
) -> str:
    """The receipt of a completed erasure request, from its erasure jobs' final statuses.
    Reads no sealed value, so it works after the request's key is shredded."""
    request = await request_facts(session, request_id)
    if request.type != "erasure":
        raise Conflict(f"A {request.type} request has no erasure receipt.")
    systems = await system_answers(session, keyring, request_id, "erasure")
    return sign_erasure_receipt(keyring, request, systems, issuer=issuer)
