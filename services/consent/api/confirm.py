"""``/v1/confirm/{token}``: the double opt-in link (public; the signed token is the credential).

GET only shows what would be confirmed, because mail scanners fetch links; POST confirms.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import evidence_of, ledger_context
from services.consent.service.confirmations import (
    ConfirmationPreview,
    ConfirmationResult,
    ConfirmationService,
)
from shared.keys import Keyring

# 400: not a link Lupa signed; 410: expired, or its consent changed since
LINK_PROBLEMS = (400, 410)


class ConfirmController(Controller):
    path = "/v1/confirm"
    tags = ["double opt-in"]
    opt = {"public": True}

    @get(
        "/{token:str}",
        opt={"problems": LINK_PROBLEMS},
        summary="What this confirmation link confirms (changes nothing)",
    )
    async def show_confirmation(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> ConfirmationPreview:
        return await ConfirmationService(tx, keyring, ledger_context(request)).preview(token)

    @post(
        "/{token:str}",
        status_code=200,
        opt={"problems": LINK_PROBLEMS},
        summary="Confirm a pending grant (once; repeats are no-ops)",
    )
    async def confirm(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> ConfirmationResult:
        return await ConfirmationService(tx, keyring, ledger_context(request)).confirm(
            token, evidence_of(request)
        )
