"""The customer's preference centre at ``/preferences``: reached by a signed link (which opens
a page session and is then dropped from the address bar) or a portal token bound to the
subject; plain HTML forms posting with the session's CSRF token, each answered by 303 back to
the page. Every change goes through the service layer the API uses (``web/changes.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.api.request_context import evidence_of, ledger_context
from services.consent.service.preference_links import read_link
from services.consent.service.receipts import ReceiptService
from services.consent.service.subjects import live_subject
from services.consent.web.changes import Form, PageChanges
from services.consent.web.page_view import DEFAULT_ZONE, FREQUENCIES, build_view, dsar_base_url
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.tokens import Principal
from shared.errors import InvalidInput, InvalidLink, LinkExpired, NotFound, PreconditionFailed
from shared.keys import Keyring
from shared.problems import handle_lupa_error
from shared.public_limits import limited
from shared.web.i18n import LANG_COOKIE, LANGUAGES, Catalogue, language_of
from shared.web.pages import PAGE_HEADERS
from shared.web.sessions import (
    SignInRequired,
    check_csrf,
    cleared_cookie,
    close_session,
    cookie_name,
    open_session,
    page_session,
    requires_page,
    session_cookie,
)

WEB = Path(__file__).resolve().parent
TEMPLATES = WEB / "templates"
CATALOGUE = Catalogue.load(WEB / "i18n" / "preferences")
SERVICE = "consent"
PATH = "/preferences"
NOTICES = ("saved", "nothing")
PAGE_OPT = {"problems": (400, 401, 403, 404, 410, 422)}
_portal_page = requires_page("portal")


async def _portal_or_link(
    connection: ASGIConnection[Any, Any, Any, Any], h: BaseRouteHandler
) -> None:
    """The page's guard: a signed link (``?token=``, checked by the handler) or the portal's
    session or bearer token, as ``requires_page("portal")``."""
    if "token" in connection.query_params:
        return
    checked = _portal_page(connection, h)
    if checked is not None:
        await checked


_portal_or_link.roles = ("portal",)  # type: ignore[attr-defined]


def _lang(request: Request[Any, Any, Any]) -> str:
    return language_of(request)


def _cookies(request: Request[Any, Any, Any], lang: str) -> list[Cookie]:
    """Remember a language chosen with ``?lang=``."""
    if request.query_params.get("lang") in LANGUAGES:
        return [Cookie(key=LANG_COOKIE, value=lang, path="/", samesite="lax", max_age=31536000)]
    return []


def _secure(request: Request[Any, Any, Any]) -> bool:
    return str(request.app.state["settings"].http.public_base_url).startswith("https://")


def _see_other(location: str, cookies: list[Cookie] | None = None) -> Response[None]:
    return Response(
        None, status_code=303, headers={"Location": location, **PAGE_HEADERS}, cookies=cookies or []
    )


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.scope["state"]["principal"]
    if principal.subject is None:
        raise NotFound("This page needs a link or a token bound to one customer.")
    return principal


async def _form(request: Request[Any, Any, Any]) -> Form:
    data = await request.form()
    values = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    lists = {k: [str(x) for x in data.getall(k) if isinstance(x, str)] for k in data}
    return Form(values, lists)


def _link_problem(lang: str, status: int) -> Template:
    return Template(
        template_name="preferences/link_problem.html",
        context={"lang": lang, "t": CATALOGUE.for_language(lang)},
        status_code=status,
        headers=PAGE_HEADERS,
    )


def _no_session(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """No session and no token: a browser gets the page that says to open the latest link
    (in its language); a program gets the 401 problem, as from the API."""
    if "text/html" in request.headers.get("accept", ""):
        return _link_problem(language_of(request), 401)
    return handle_lupa_error(request, exc)


class PreferenceCentreController(Controller):
    path = PATH
    include_in_schema = False
    exception_handlers = {SignInRequired: _no_session}

    @get(
        guards=[_portal_or_link, limited("link", query_param="token")],
        opt=PAGE_OPT,
        media_type="text/html",
    )
    async def page(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        lang = _lang(request)
        token = request.query_params.get("token")
        if token is not None:
            return await self._sign_in(tx, keyring, request, token, lang)
        return await self._render(tx, keyring, request, lang)

    async def _sign_in(
        self,
        tx: AsyncSession,
        keyring: Keyring,
        request: Request[Any, Any, Any],
        token: str,
        lang: str,
    ) -> Response[Any]:
        try:
            external_id = read_link(keyring, token[:4096])
            subject = await live_subject(tx, external_id)
        except LinkExpired:
            return _link_problem(lang, 410)
        except (InvalidLink, NotFound):
            return _link_problem(lang, 400)
        cookie_token, web = await open_session(tx, SERVICE, "portal", external_id)
        await record_event(
            tx,
            AuditEvent(
                service=SERVICE,
                type="session.opened",
                subject=str(subject.id),
                data={"actor": web.principal.actor, "page": "preferences", "via": "link"},
            ),
        )
        ttl = int((web.expires_at - datetime.now(UTC)).total_seconds())
        cookie = session_cookie(
            SERVICE, cookie_token, secure=_secure(request), path=PATH, max_age=ttl
        )
        return _see_other(PATH, [cookie, *_cookies(request, lang)])

    async def _render(
        self,
        tx: AsyncSession,
        keyring: Keyring,
        request: Request[Any, Any, Any],
        lang: str,
        error: str | None = None,
        status: int = 200,
    ) -> Response[Any]:
        principal = _principal(request)
        assert principal.subject is not None
        view = await build_view(tx, keyring, ledger_context(request), principal.subject, lang)
        web = await page_session(request)
        notice = request.query_params.get("done")
        paused = view.preferences["paused_until"]
        paused_day = ""
        if paused:
            instant = datetime.fromisoformat(str(paused))
            zone = (view.preferences["quiet_hours"] or {}).get("timezone", DEFAULT_ZONE)
            if instant > datetime.now(UTC):
                paused_day = instant.astimezone(ZoneInfo(zone)).date().isoformat()
        return Template(
            template_name="preferences/page.html",
            context={
                "lang": lang,
                "t": CATALOGUE.for_language(lang),
                "view": view,
                "csrf": web.csrf if web else None,
                "notice": notice if notice in NOTICES else None,
                "error": error,
                "frequencies": FREQUENCIES,
                "paused_day": paused_day,
                "default_zone": DEFAULT_ZONE,
                "dsar": dsar_base_url(),
                "jwks": f"{ledger_context(request).public_base_url}/.well-known/jwks.json",
            },
            status_code=status,
            headers=PAGE_HEADERS,
            cookies=_cookies(request, lang),
        )

    async def _submit(
        self,
        tx: AsyncSession,
        keyring: Keyring,
        request: Request[Any, Any, Any],
        which: str,
    ) -> Response[Any]:
        web = await page_session(request)
        form = await _form(request)
        if web is None:
            raise InvalidInput("Open the page from your link to change your choices.")
        check_csrf(web, form.get("csrf"))
        lang = _lang(request)
        changes = PageChanges(
            tx, keyring, ledger_context(request), _principal(request), evidence_of(request)
        )
        etag = form.get("etag")
        try:
            # A savepoint: a form refused half-way (one channel of several) changes nothing.
            async with tx.begin_nested():
                if which == "consents":
                    made = await changes.consents(form)
                elif which == "less":
                    made = await changes.less(form, etag)
                else:
                    made = await changes.settings(form, etag, datetime.now(UTC).date())
        except PreconditionFailed:
            t = CATALOGUE.for_language(lang)
            return await self._render(tx, keyring, request, lang, t["error_stale"], 409)
        except InvalidInput as exc:
            t = CATALOGUE.for_language(lang)
            return await self._render(
                tx, keyring, request, lang, t["error_input"] + exc.detail, 422
            )
        return _see_other(f"{PATH}?done={'saved' if made else 'nothing'}#notice")

    @post("/consents", guards=[_portal_page], opt=PAGE_OPT, status_code=303, media_type="text/html")
    async def consents(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        return await self._submit(tx, keyring, request, "consents")

    @post("/less", guards=[_portal_page], opt=PAGE_OPT, status_code=303, media_type="text/html")
    async def less(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        return await self._submit(tx, keyring, request, "less")

    @post("/settings", guards=[_portal_page], opt=PAGE_OPT, status_code=303, media_type="text/html")
    async def settings(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        return await self._submit(tx, keyring, request, "settings")

    @get("/receipts/{receipt_id:uuid}", guards=[_portal_page], opt=PAGE_OPT)
    async def receipt(
        self,
        tx: NamedDependency[AsyncSession],
        keyring: NamedDependency[Keyring],
        request: Request[Any, Any, Any],
        receipt_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        principal = _principal(request)
        found = await ReceiptService(tx, keyring, ledger_context(request)).get(
            receipt_id, principal
        )
        return Response(
            found.jws.encode(),
            media_type="application/jose",
            headers={
                **PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="receipt-{found.id}.jws"',
            },
        )

    @post("/sign-out", guards=[_portal_page], opt=PAGE_OPT, status_code=200, media_type="text/html")
    async def sign_out(
        self,
        tx: NamedDependency[AsyncSession],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        web = await page_session(request)
        form = await _form(request)
        if web is None:
            raise InvalidInput("There is no session to sign out of.")
        check_csrf(web, form.get("csrf"))
        token = request.cookies.get(cookie_name(SERVICE)) or ""
        await close_session(tx, token)
        principal = _principal(request)
        assert principal.subject is not None
        subject = await live_subject(tx, principal.subject)
        await record_event(
            tx,
            AuditEvent(
                service=SERVICE,
                type="session.closed",
                subject=str(subject.id),
                data={"actor": principal.actor, "page": "preferences"},
            ),
        )
        lang = _lang(request)
        return Template(
            template_name="preferences/signed_out.html",
            context={"lang": lang, "t": CATALOGUE.for_language(lang)},
            headers=PAGE_HEADERS,
            cookies=[cleared_cookie(SERVICE, PATH, secure=_secure(request))],
        )
