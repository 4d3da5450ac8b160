"""Sessions of the web pages: a cookie set after sign-in (an officer's token, a customer's signed
link), checked by ``requires_page`` on every page.

The cookie (``lupa_session_<service>``) is ``HttpOnly``, ``SameSite=Strict`` and, when the
service's public URL is HTTPS, ``Secure``; its value is a random token whose SHA-256 hash is
the row's key in ``web_sessions`` (PostgreSQL: every replica sees the same sessions). Each
session carries its own CSRF token, which every form of the pages sends back (``check_csrf``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth.guards import principal_of_scope
from shared.auth.portal import refuse_unbound_portal
from shared.auth.tokens import Principal
from shared.errors import Forbidden, LupaError
from shared.problems import handle_lupa_error

# One cookie per service: browsers keep cookies per host, not per port, so the consent
# service (8000) and the DSAR service (8001) on one host would otherwise overwrite each other's.
COOKIE_PREFIX = "lupa_session_"


def cookie_name(service: str) -> str:
    return COOKIE_PREFIX + service


DEFAULT_TTL = timedelta(hours=8)
SESSION_FACTORY_KEY = "session_factory"  # the same key shared.app_base keeps its factory under


class SignInRequired(LupaError):
    """A page was asked for without a session or a bearer token."""

    status, slug, title = 401, "sign-in-required", "Sign in to see this page"


@dataclass(frozen=True)
class WebSession:
    id: str  # a short, non-secret name of the session (its hash's prefix) for audit actors
    role: str
    subject: str | None
    csrf: str
    expires_at: datetime

    @property
    def principal(self) -> Principal:
        return Principal(role=self.role, subject=self.subject, token_id=f"session-{self.id}")


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def open_session(
    session: AsyncSession,
    service: str,
    role: str,
    subject: str | None,
    ttl: timedelta = DEFAULT_TTL,
) -> tuple[str, WebSession]:
    """A new session: (the cookie's token, the session)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    web = WebSession(_hash(token).hex()[:12], role, subject, csrf, datetime.now(UTC) + ttl)
    await session.execute(
        text(
            "INSERT INTO web_sessions (token_hash, service, role, subject, csrf, expires_at)"
            " VALUES (:h, :service, :role, :subject, :csrf, :expires)"
        ),
        {
            "h": _hash(token),
            "service": service,
            "role": role,
            "subject": subject,
            "csrf": web.csrf,
            "expires": web.expires_at,
        },
    )
    return token, web


async def find_session(session: AsyncSession, service: str, token: str) -> WebSession | None:
    row = (
        await session.execute(
            text(
                "SELECT role, subject, csrf, expires_at FROM web_sessions"
                " WHERE token_hash = :h AND service = :service AND expires_at > now()"
            ),
            {"h": _hash(token), "service": service},
        )
    ).one_or_none()
    if row is None:
        return None
    return WebSession(_hash(token).hex()[:12], row.role, row.subject, row.csrf, row.expires_at)


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        text("DELETE FROM web_sessions WHERE token_hash = :h OR expires_at < now()"),
        {"h": _hash(token)},
    )


def session_cookie(service: str, token: str, *, secure: bool, path: str, max_age: int) -> Cookie:
    return Cookie(
        key=cookie_name(service),
        value=token,
        path=path,
        httponly=True,
        secure=secure,
        samesite="strict",
        max_age=max_age,
    )


def cleared_cookie(service: str, path: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=cookie_name(service),
        value="",
        path=path,
        httponly=True,
        secure=secure,
        samesite="strict",
        max_age=0,
    )


def check_csrf(web: WebSession, sent: str | None) -> None:
    """Refuse a form whose CSRF token is not the session's."""
    if not sent or not hmac.compare_digest(sent, web.csrf):
        raise Forbidden("The form has expired or did not come from this page; reload it.")


async def page_session(connection: ASGIConnection[Any, Any, Any, Any]) -> WebSession | None:
    """The session of the request's cookie (looked up once per request), or None."""
    state = connection.scope.setdefault("state", {})
    if "web_session" in state:
        return state["web_session"]  # type: ignore[no-any-return]
    service = connection.app.state["settings"].service
    token = connection.cookies.get(cookie_name(service))
    web = None
    if token:
        factory: async_sessionmaker[AsyncSession] = connection.app.state[SESSION_FACTORY_KEY]
        async with factory() as session:
            web = await find_session(session, service, token)
    state["web_session"] = web
    return web


def requires_page(*roles: str) -> Guard:
    """A page's guard: the role's bearer token (as the API takes it) or a session cookie of
    that role. The principal is left in the scope for the handler, as with ``requires``."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of_scope(connection.scope)
        if principal is None:
            web = await page_session(connection)
            if web is None:
                raise SignInRequired("Sign in, or open the link from your message again.")
            principal = web.principal
            connection.scope["state"]["principal"] = principal
        refuse_unbound_portal(principal)
        if principal.role not in roles:
            raise Forbidden(f"The role '{principal.role}' may not use this page.")

    guard.roles = roles  # type: ignore[attr-defined]
    return guard


def to_sign_in(sign_in_path: str) -> Any:
    """An exception handler for ``SignInRequired``: a browser (text/html in Accept) is sent
    to ``sign_in_path``; a program gets the 401 problem, as from the API."""

    def handle(request: Any, exc: SignInRequired) -> Response[Any]:
        if "text/html" in request.headers.get("accept", ""):
            return redirect(sign_in_path)
        return handle_lupa_error(request, exc)

    return handle


def redirect(location: str, cookies: list[Cookie] | None = None) -> Response[None]:
    """303 See Other: after a form's POST, the browser GETs the page again."""
    return Response(None, status_code=303, headers={"Location": location}, cookies=cookies or [])
