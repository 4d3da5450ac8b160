"""What the DSAR pages share: the catalogue, rendering with the pages' security headers and
the remembered language, the Helsinki clock, and the signed token of the public forms."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Template

from shared.keys import Keyring
from shared.web.i18n import LANG_COOKIE, LANGUAGES, Catalogue, language_of
from shared.web.pages import PAGE_HEADERS

WEB = Path(__file__).resolve().parent
TEMPLATES = WEB / "templates"
CATALOGUE = Catalogue.load(WEB / "i18n")
HELSINKI = ZoneInfo("Europe/Helsinki")
FORM_TOKEN_TTL_S = 3600  # a public form older than an hour is sent again from a fresh page


def local_time(value: datetime | None) -> str:
    """A time on the controller's clock (Europe/Helsinki), as officers and requesters read it."""
    return "" if value is None else value.astimezone(HELSINKI).strftime("%Y-%m-%d %H:%M")


def render(
    request: Request[Any, Any, Any],
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cookies: Sequence[Cookie] = (),
) -> Template:
    """The page in the request's language; ``?lang=`` is remembered in a cookie."""
    lang = language_of(request)
    remembered = list(cookies)
    if request.query_params.get("lang") in LANGUAGES:
        remembered.append(Cookie(key=LANG_COOKIE, value=lang, path="/", samesite="lax"))
    return Template(
        template_name=name,
        context={"lang": lang, "t": CATALOGUE.for_language(lang), "local": local_time, **context},
        status_code=status,
        headers=PAGE_HEADERS,
        cookies=remembered,
    )


def form_token(keyring: Keyring, purpose: str, now: float | None = None) -> str:
    """A token for a public form (no session there to hold a CSRF token): the time it was
    issued and an HMAC of it, so only a page Lupa served can post, and only for an hour."""
    issued = str(int(now if now is not None else time.time()))
    return f"{issued}.{_mac(keyring, purpose, issued)}"


def form_token_valid(keyring: Keyring, purpose: str, token: str | None) -> bool:
    issued, _, mac = (token or "").partition(".")
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(keyring, purpose, issued)):
        return False
    return 0 <= time.time() - int(issued) <= FORM_TOKEN_TTL_S


def _mac(keyring: Keyring, purpose: str, issued: str) -> str:
    message = f"dsar-form:{purpose}:{issued}".encode()
    return hmac.new(keyring.evidence_key, message, hashlib.sha256).hexdigest()
