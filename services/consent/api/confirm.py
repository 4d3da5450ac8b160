"""``/v1/confirm/{token}``: the double opt-in link (public; the signed token is the credential).

GET only shows what would be confirmed, because mail scanners fetch links; POST confirms.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import evidence_of, ledger_context
from services.consent.service.confirmations import Confirmation, ConfirmationService
from shared.keys import Keyring


class ConfirmationPreview(msgspec.Struct):
    purpose: str
    title: str
    titles: dict[str, str]
    channel: str
    purpose_version: int
    awaiting_confirmation: bool
    how: str


class ConfirmationReceipt(msgspec.Struct):
    id: uuid.UUID
    jws: str


class ConfirmationResult(msgspec.Struct, omit_defaults=True):
    outcome: str
    purpose: str
    channel: str
    state: str
    receipt: ConfirmationReceipt | None = None

    @classmethod
    def from_confirmation(cls, done: Confirmation) -> ConfirmationResult:
        receipt = ConfirmationReceipt(done.receipt.id, done.receipt.jws) if done.receipt else None
        return cls(done.outcome, done.purpose, done.channel, done.state, receipt)


class ConfirmController(Controller):
    path = "/v1/confirm"
    tags = ["double opt-in"]
    opt = {"public": True}

    @get("/{token:str}", summary="What this confirmation link confirms (changes nothing)")
    async def show_confirmation(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> ConfirmationPreview:
        preview = await ConfirmationService(tx, keyring, ledger_context(request)).preview(token)
        return ConfirmationPreview(**preview)

    @post(
        "/{token:str}",
        status_code=200,
        summary="Confirm a pending grant (once; repeats are no-ops)",
    )
    async def confirm(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> ConfirmationResult:
        done = await ConfirmationService(tx, keyring, ledger_context(request)).confirm(
            token, evidence_of(request)
        )
        return ConfirmationResult.from_confirmation(done)
