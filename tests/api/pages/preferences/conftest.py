"""The preference centre's pages, driven over HTTP like a browser without JavaScript: a client
of its own (it keeps the session cookie; pages are not in the OpenAPI document, so the judged
``consent`` client cannot fetch them) and a helper reading forms and text from the markup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.ledger_helpers import make_purpose, make_subject

BROWSER = {"Accept": "text/html"}


class Markup(HTMLParser):
    """The page's language, visible text, forms (action -> hidden fields) and checkboxes."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.lang, self.text = "", ""
        self.forms: list[dict[str, str]] = []
        self.checked: list[tuple[str, str]] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = found.get("lang", "")
        elif tag == "form":
            self.forms.append({"action": found.get("action", "")})
        elif tag == "input" and self.forms:
            if found.get("type") == "hidden":
                self.forms[-1][found["name"]] = found["value"]
            elif found.get("type") == "checkbox" and "checked" in found:
                self.checked.append((found["name"], found["value"]))

    def handle_data(self, data: str) -> None:
        self.text += data

    @property
    def words(self) -> str:
        return " ".join(self.text.split())

    def form(self, action: str, purpose: str | None = None) -> dict[str, str]:
        """The form posting to ``action`` (for consents: the one of ``purpose``; the page
        lists every purpose of the catalogue, other tests' too)."""
        return next(
            f
            for f in self.forms
            if f["action"] == action and (purpose is None or f.get("purpose") == purpose)
        )


@pytest.fixture
async def pages(consent: AsyncTestClient[Litestar]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (its own cookies) over the ``consent`` client's running app."""
    # Not entered as a context manager: the transport is the running client's, closed by it.
    yield httpx.AsyncClient(transport=consent._transport, base_url="http://testserver.local")


async def customer(consent: Any, auth: Any, new_id: Any, locale: str = "en") -> tuple[str, str]:
    """A purpose on email and sms with titles in three languages, and a subject who granted
    it on both; (purpose key, external id)."""
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(
        consent,
        auth,
        key,
        title={"en": "Newsletter", "fi": "Uutiskirje", "sv": "Nyhetsbrev"},
        description={"en": "News every week", "fi": "Uutisia viikoittain"},
    )
    await make_subject(consent, auth, ext, locale=locale)
    for channel in ("email", "sms"):
        resp = await consent.post(
            f"/v1/subjects/{ext}/consents",
            json={"purpose": key, "channel": channel, "action": "grant"},
            headers=auth("admin"),
        )
        assert resp.status_code == 201, resp.text
    return key, ext


async def signed_link(consent: Any, auth: Any, ext: str) -> str:
    resp = await consent.post(f"/v1/subjects/{ext}/preference-links", headers=auth("portal", ext))
    assert resp.status_code == 201, resp.text
    parts = urlsplit(resp.json()["url"])
    return f"{parts.path}?{parts.query}"


async def signed_in(pages: Any, consent: Any, auth: Any, ext: str) -> Markup:
    """Open the customer's signed link; the page it lands on."""
    opened = await pages.get(await signed_link(consent, auth, ext), headers=BROWSER)
    assert opened.status_code == 303 and opened.headers["location"] == "/preferences"
    return Markup((await pages.get("/preferences", headers=BROWSER)).text)
