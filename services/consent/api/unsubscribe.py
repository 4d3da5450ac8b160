"""One-click unsubscribe: ``/v1/unsubscribe/{token}`` (public) and bulk link minting for senders.

``POST`` with the body ``List-Unsubscribe=One-Click`` (RFC 8058) withdraws at once, without a
login: the signed token is the authority. ``GET`` never changes anything (mail scanners follow
links); it shows a confirmation page whose button makes the same POST.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from litestar.params import JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.check import BATCH_BODY_LIMIT, CHECK_ROLES, ExternalId, PurposeKey
from services.consent.api.link_pages import ask_page, done_page
from services.consent.api.request_context import evidence_of, ledger_context
from services.consent.domain.vocabulary import Channel
from services.consent.service.check import MAX_BATCH
from services.consent.service.preference_links import link_for_subject, token_subject
from services.consent.service.unsubscribe import UnsubscribeService
from shared.auth.guards import requires
from shared.errors import InvalidInput, PayloadTooLarge
from shared.keys import Keyring
from shared.public_limits import limited

ONE_CLICK = "List-Unsubscribe=One-Click"
# A link token is a few hundred characters; the bound leaves room for any other token Lupa
# signs (a receipt with full controller details passes 2 KiB) to be refused as no link (400).
Token = Annotated[str, PathParameter(max_length=4096, description="the signed link token")]

# 400: not a link Lupa signed; 410: expired; 429: too many uses of the link or from one address
LINK_PROBLEMS = (400, 410, 429)
_ONE_CLICK_FORM = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.OBJECT,
        required=["List-Unsubscribe"],
        properties={"List-Unsubscribe": Schema(type=OpenAPIType.STRING, enum=["One-Click"])},
    )
)
ONE_CLICK_BODY = RequestBody(
    required=True,
    description=f"`{ONE_CLICK}` (RFC 8058), as mailbox providers send it",
    content={
        "multipart/form-data": _ONE_CLICK_FORM,
        "application/x-www-form-urlencoded": _ONE_CLICK_FORM,
    },
)


class LinkRequest(msgspec.Struct, forbid_unknown_fields=True):
    purpose: PurposeKey
    channel: Channel
    subjects: list[ExternalId]


class MintedLink(msgspec.Struct):
    """One recipient's link and the two RFC 8058 header values a sender pastes into the mail;
    all None for a subject Lupa does not hold (send it no link)."""

    subject: str
    url: str | None
    list_unsubscribe: str | None
    list_unsubscribe_post: str | None

    @classmethod
    def of(cls, subject: str, url: str | None) -> MintedLink:
        if url is None:
            return cls(subject, None, None, None)
        return cls(subject, url, f"<{url}>", ONE_CLICK)


class MintedLinks(msgspec.Struct):
    links: list[MintedLink]


async def is_one_click(request: Request[Any, Any, Any]) -> bool:
    """RFC 8058 allows multipart/form-data (preferred) or a urlencoded form."""
    form = await request.form()
    return form.get("List-Unsubscribe") == "One-Click"


class UnsubscribeController(Controller):
    tags = ["unsubscribe"]

    @get(
        "/v1/unsubscribe/{token:str}",
        media_type="text/html",
        guards=[limited("link", path_param="token")],
        opt={"public": True, "problems": LINK_PROBLEMS},
        summary="Confirmation page of a one-click unsubscribe link (changes nothing)",
    )
    async def unsubscribe_page(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: Token,
    ) -> str:
        view = await UnsubscribeService(tx, keyring, ledger_context(request)).view(token)
        return ask_page("unsubscribe", view.language, view.purpose_title, view.channel, ONE_CLICK)

    @post(
        "/v1/unsubscribe/{token:str}",
        guards=[limited("link", path_param="token")],
        opt={
            "public": True,
            "problems": LINK_PROBLEMS,
            "media_types": ("text/html",),
            "request_body": ONE_CLICK_BODY,
        },
        status_code=200,
        request_max_body_size=4096,
        summary="RFC 8058 one-click unsubscribe: withdraws at once, no login",
    )
    async def unsubscribe(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        token: Token,
    ) -> Response[str]:
        if not await is_one_click(request):
            raise InvalidInput(f"The body must be '{ONE_CLICK}' (RFC 8058).")
        done = await UnsubscribeService(tx, keyring, ledger_context(request)).unsubscribe(
            token, evidence_of(request)
        )
        # The token was verified by the call above; its subject gets a preference-centre link.
        manage = await link_for_subject(
            tx, keyring, ledger_context(request).public_base_url, token_subject(token)
        )
        page = done_page("unsubscribed", done.language, manage)
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-store"})

    @post(
        "/v1/unsubscribe-links",
        guards=[requires(*CHECK_ROLES)],
        status_code=200,
        request_max_body_size=BATCH_BODY_LIMIT,
        summary="Mint per-recipient one-click unsubscribe URLs (List-Unsubscribe headers)",
    )
    async def mint_links(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        data: JSONBody[LinkRequest],
    ) -> MintedLinks:
        if len(data.subjects) > MAX_BATCH:
            raise PayloadTooLarge(
                f"At most {MAX_BATCH} links per call; split the list.", max_subjects=MAX_BATCH
            )
        urls = await UnsubscribeService(tx, keyring, ledger_context(request)).mint(
            data.subjects, data.purpose, data.channel
        )
        return MintedLinks([MintedLink.of(s, u) for s, u in zip(data.subjects, urls, strict=True)])
