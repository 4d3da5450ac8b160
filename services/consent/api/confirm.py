"""``/v1/confirm/{token}``: the double opt-in link (public; the signed token is the credential).

GET only shows what would be confirmed, because mail scanners fetch links; POST confirms. A
browser (asking for text/html) gets a small page in the subject's language instead of JSON.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.link_pages import ask_page, done_page, wants_html
from services.consent.api.request_context import evidence_of, ledger_context
from services.consent.service.confirmations import ConfirmationService
from services.consent.service.preference_links import link_for_subject, token_subject
from services.consent.service.receipts import localised
from shared.keys import Keyring
from shared.public_limits import limited

# The confirmation page's button posts this (the POST needs no body; a form sends one anyway).
CONFIRM_FIELD = "confirm=yes"

# 400: not a link Lupa signed; 410: expired, or its consent changed since; 429: rate limit
LINK_PROBLEMS = (400, 410, 429)


class ConfirmController(Controller):
    path = "/v1/confirm"
    tags = ["double opt-in"]
    opt = {"public": True}
    guards = [limited("link", path_param="token")]

    @get(
        "/{token:str}",
        opt={"problems": LINK_PROBLEMS, "also_media_types": ("text/html",)},
        summary="What this confirmation link confirms (changes nothing); a page for browsers",
    )
    async def show_confirmation(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> Response[Any]:
        preview = await ConfirmationService(tx, keyring, ledger_context(request)).preview(token)
        if not wants_html(request):
            return Response(preview)
        title = localised(preview.titles, preview.language) or preview.purpose
        page = ask_page("confirm", preview.language, title, preview.channel, CONFIRM_FIELD)
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-store"})

    @post(
        "/{token:str}",
        status_code=200,
        opt={"problems": LINK_PROBLEMS, "also_media_types": ("text/html",)},
        summary="Confirm a pending grant (once; repeats are no-ops); a page for browsers",
    )
    async def confirm(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: FromPath[str],
    ) -> Response[Any]:
        confirmed = await ConfirmationService(tx, keyring, ledger_context(request)).confirm(
            token, evidence_of(request)
        )
        if not wants_html(request):
            return Response(confirmed.result)
        # The token was verified by the call above; its subject gets a preference-centre link.
        manage = await link_for_subject(
            tx, keyring, ledger_context(request).public_base_url, token_subject(token)
        )
        page = done_page("confirmed", confirmed.language, manage)
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-store"})
