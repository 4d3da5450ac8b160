"""``/v1/receipts/{id}``: a consent receipt again, as the compact JWS it was issued as."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import ledger_context
from services.consent.service.receipts import Receipt, ReceiptService
from shared.auth.guards import requires
from shared.auth.tokens import Principal
from shared.keys import Keyring


class ReceiptController(Controller):
    path = "/v1/receipts"
    tags = ["receipts"]

    @get(
        "/{receipt_id:uuid}",
        guards=[requires("admin", "portal", "officer")],
        opt={"problems": (404,)},
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
        return await ReceiptService(tx, keyring, ledger_context(request)).get(receipt_id, principal)
