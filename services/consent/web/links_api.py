"""``POST /v1/subjects/{external_id}/preference-links``: a signed link to the preference centre,
for the portal (its own subject) or an admin to put in a message or a button."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import ledger_context
from services.consent.api.subjects import ExternalId
from services.consent.service.preference_links import mint_link
from services.consent.service.subjects import live_subject
from shared.auth.guards import requires
from shared.keys import Keyring


class PreferenceLinkOut(msgspec.Struct):
    url: str
    expires_at: datetime


class PreferenceLinkController(Controller):
    path = "/v1/subjects/{external_id:str}/preference-links"
    tags = ["preferences"]

    @post(
        guards=[requires("admin", "portal", subject_param="external_id")],
        opt={"problems": (404,)},
        status_code=201,
        summary="A signed link to the subject's preference centre (valid 30 days)",
    )
    async def mint_preference_link(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        external_id: ExternalId,
    ) -> PreferenceLinkOut:
        await live_subject(tx, external_id)  # no link for an unknown or erased subject
        link = mint_link(keyring, ledger_context(request).public_base_url, external_id)
        return PreferenceLinkOut(link.url, link.expires_at)
