"""The CX dashboard at ``/cx`` (roles cx and admin): grants and withdrawals per week, why
people withdraw, "send me less" against full stops, one-click unsubscribes, the double opt-in
confirmation rate, consents about to expire, and DSAR volumes read from the DSAR service.

Sign-in is as the officer console's: a cx (or admin) token pasted once opens a session for the
consent service; the dashboard also answers the role's bearer token. The pages only read,
except signing in and out, which record ``session.opened`` / ``session.closed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.service.cx_stats import (
    DEFAULT_WEEKS,
    PERIODS,
    CxStats,
    Dashboard,
    fetch_dsar_stats,
)
from services.consent.web.charts import Series, bar_chart, horizontal_bars
from shared.app_base import KEYRING_KEY
from shared.audit.outbox import AuditEvent, record_event
from shared.auth.guards import VERIFIER_STATE_KEY
from shared.auth.tokens import AccessTokenVerifier, InvalidToken
from shared.keys import Keyring
from shared.public_limits import limited
from shared.web.i18n import LANG_COOKIE, LANGUAGES, Catalogue, language_of
from shared.web.pages import PAGE_HEADERS
from shared.web.sessions import (
    DEFAULT_TTL,
    SignInRequired,
    WebSession,
    check_csrf,
    cleared_cookie,
    close_session,
    cookie_name,
    open_session,
    page_session,
    redirect,
    requires_page,
    session_cookie,
    to_sign_in,
)

WEB = Path(__file__).resolve().parent
CX_TEMPLATES = WEB / "templates"
CATALOGUE = Catalogue.load(WEB / "i18n" / "cx")
SERVICE = "consent"
ROLES = ("cx", "admin")
BASE = "/cx"
SIGN_IN = f"{BASE}/sign-in"
DSAR_URL_KEY = "cx_dsar_url"  # app state: the DSAR service's base URL
REASONS = ("too_many", "not_relevant", "never_signed_up", "privacy", "other", "")
GRANT_COLOUR, WITHDRAW_COLOUR, REASON_COLOUR = "#0b5cad", "#a3161b", "#4a5360"


def render(
    request: Request[Any, Any, Any],
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cookies: Sequence[Cookie] = (),
) -> Template:
    """The page in the request's language; a ``?lang=`` choice is remembered in a cookie."""
    lang = language_of(request)
    remembered = list(cookies)
    if request.query_params.get("lang") in LANGUAGES:
        remembered.append(Cookie(key=LANG_COOKIE, value=lang, path="/", samesite="lax"))
    return Template(
        template_name=name,
        context={"lang": lang, "t": CATALOGUE.for_language(lang), **context},
        status_code=status,
        headers=PAGE_HEADERS,
        cookies=remembered,
    )


def _secure(request: Request[Any, Any, Any]) -> bool:
    return str(request.app.state["settings"].http.public_base_url).startswith("https://")


def _session_event(type_: str, web: WebSession, actor: str) -> AuditEvent:
    return AuditEvent(
        service=SERVICE,
        type=type_,
        subject=f"session-{web.id}",
        data={"role": web.role, "actor": actor},
    )


def chosen_weeks(raw: str | None) -> tuple[int, bool]:
    """The period asked for, and whether the request named one we do not offer."""
    if raw is None or raw == "":
        return DEFAULT_WEEKS, False
    if raw.isdigit() and int(raw) in PERIODS:
        return int(raw), False
    return DEFAULT_WEEKS, True


def charts(board: Dashboard, t: dict[str, str]) -> dict[str, Any]:
    labels = [w.week.strftime("%d.%m.") for w in board.totals]
    weekly = bar_chart(
        t["chart_weekly"],
        labels,
        [
            Series(t["grants"], GRANT_COLOUR, [w.grants for w in board.totals]),
            Series(t["withdrawals"], WITHDRAW_COLOUR, [w.withdrawals for w in board.totals]),
        ],
    )
    reasons = horizontal_bars(
        t["chart_reasons"],
        [(t[f"reason_{code or 'none'}"], board.reasons.get(code, 0)) for code in REASONS],
        REASON_COLOUR,
    )
    return {"weekly_chart": weekly, "reasons_chart": reasons}


class CxController(Controller):
    path = BASE
    include_in_schema = False
    exception_handlers = {SignInRequired: to_sign_in(SIGN_IN)}

    @get("/sign-in", opt={"public": True})
    async def sign_in_page(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "cx/sign_in.html", {"error": None})

    @post("/sign-in", guards=[limited("sign-in")], opt={"public": True}, status_code=303)
    async def sign_in(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        form = await request.form()
        sent = form.get("token")
        if not isinstance(sent, str) or not sent.strip():  # nothing entered: not a refusal
            return render(request, "cx/sign_in.html", {"error": "err_token_invalid"}, status=422)
        verifier: AccessTokenVerifier = request.app.state[VERIFIER_STATE_KEY]
        try:
            principal = verifier.verify(sent.strip())
        except InvalidToken:
            return render(request, "cx/sign_in.html", {"error": "err_token_invalid"}, status=401)
        if principal.role not in ROLES:
            return render(request, "cx/sign_in.html", {"error": "err_token_role"}, status=403)
        token, web = await open_session(tx, SERVICE, principal.role, None)
        await record_event(tx, _session_event("session.opened", web, principal.actor))
        cookie = session_cookie(
            SERVICE,
            token,
            secure=_secure(request),
            path=BASE,
            max_age=int(DEFAULT_TTL.total_seconds()),
        )
        return redirect(BASE, [cookie])

    @post("/sign-out", guards=[requires_page(*ROLES)], status_code=303)
    async def sign_out(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        web = await page_session(request)
        if web is None:  # reached with a bearer token: there is no session to close
            return redirect(SIGN_IN)
        form = await request.form()
        csrf = form.get("csrf")
        check_csrf(web, csrf if isinstance(csrf, str) else None)
        await close_session(tx, request.cookies.get(cookie_name(SERVICE), ""))
        await record_event(tx, _session_event("session.closed", web, web.principal.actor))
        return redirect(SIGN_IN, [cleared_cookie(SERVICE, BASE, secure=_secure(request))])

    @get("", guards=[requires_page(*ROLES)])
    async def dashboard(
        self, tx: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
    ) -> Template:
        weeks, unknown_period = chosen_weeks(request.query_params.get("weeks"))
        keyring: Keyring = request.app.state[KEYRING_KEY]
        board = await CxStats(tx, keyring).dashboard(weeks)
        dsar_url: str = request.app.state[DSAR_URL_KEY]
        dsar = await fetch_dsar_stats(dsar_url, keyring, weeks)
        web = await page_session(request)
        t = CATALOGUE.for_language(language_of(request))
        return render(
            request,
            "cx/dashboard.html",
            {
                "board": board,
                "dsar": dsar,
                "periods": PERIODS,
                "unknown_period": unknown_period,
                "reasons": REASONS,
                "csrf": web.csrf if web else None,
                **charts(board, t),
            },
        )


__all__ = ["CX_TEMPLATES", "DSAR_URL_KEY", "CxController"]
