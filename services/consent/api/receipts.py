"""``/v1/receipts/{id}``: a consent receipt again, as the compact JWS it was issued as."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import jwt
import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import ledger_context
from services.consent.service.receipts import ReceiptService
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.keys import Keyring


class Receipt(msgspec.Struct):
    id: uuid.UUID
    event_id: uuid.UUID
    jws: str
    claims: dict[str, Any]
    created_at: datetime
    verify_with: str = "/.well-known/jwks.json"


class ReceiptController(Controller):
    path = "/v1/receipts"
    tags = ["receipts"]

    @get(
        "/{receipt_id:uuid}",
        guards=[requires("admin", "portal", "officer")],
        summary="A consent receipt (portal tokens: only their own subject's)",
    )
    async def get_receipt(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
        receipt_id: FromPath[uuid.UUID],
    ) -> Receipt:
        stored = await ReceiptService(tx, keyring, ledger_context(request)).get(
            receipt_id, principal
        )
        # Claims decoded for convenience only; the JWS is the evidence and verifies on its own.
        claims = jwt.decode(stored.jws, options={"verify_signature": False})
        return Receipt(
            id=stored.id,
            event_id=stored.event_id,
            jws=stored.jws,
            claims=claims,
            created_at=stored.created_at,
        )
