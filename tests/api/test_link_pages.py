"""The pages a person reaches from a mailed link speak the subject's language, name the
purpose by its title, and take one button; a program asking for JSON still gets JSON."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.ledger_helpers import make_purpose, make_subject, post_consent

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
TITLES = {"en": "Newsletter", "fi": "Uutiskirje", "sv": "Nyhetsbrev"}


class Page(HTMLParser):
    """The page's language, visible text and forms, read by the standard library's parser."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.lang, self.text, self.forms, self.buttons = "", "", [], []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        elif tag == "form":
            self.forms.append(found)
        elif tag == "input" and found.get("type") == "hidden" and self.forms:
            self.forms[-1][found["name"]] = found["value"]

    def handle_data(self, data: str) -> None:
        self.text += data


async def _subject_with_purpose(consent, auth, new_id, locale, **purpose):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key, title=TITLES, **purpose)
    await make_subject(consent, auth, ext, locale=locale)
    return key, ext


async def _unsubscribe_path(consent, auth, key, ext) -> str:
    resp = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    return urlsplit(resp.json()["links"][0]["url"]).path


@pytest.mark.parametrize(
    ("locale", "question", "done"),
    [
        ("fi", "Lopetetaanko viestit aiheesta Uutiskirje sähköpostilla?", "Tilaus on peruttu"),
        ("sv", "Vill du sluta få meddelanden om Nyhetsbrev via e-post?", "Prenumerationen är"),
        ("en", "Stop messages about Newsletter by email?", "You are unsubscribed"),
    ],
)
async def test_the_unsubscribe_page_speaks_the_subjects_language(
    consent, auth, new_id, locale, question, done
):
    key, ext = await _subject_with_purpose(consent, auth, new_id, locale)
    await post_consent(consent, auth, ext, key)
    path = await _unsubscribe_path(consent, auth, key, ext)
    page = Page((await consent.get(path)).text)
    assert page.lang == locale and question in " ".join(page.text.split())
    assert key not in page.text  # the title, not the purpose key
    [form] = page.forms
    assert form["method"] == "post" and form["List-Unsubscribe"] == "One-Click"
    answered = await consent.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answered.status_code == 200 and done in Page(answered.text).text


async def test_a_title_is_shown_as_text_never_as_markup(consent, auth, new_id):
    key, ext = new_id("p"), new_id("cust")
    await make_purpose(consent, auth, key, title={"en": "<script>alert(1)</script>"})
    await make_subject(consent, auth, ext, locale="en")
    await post_consent(consent, auth, ext, key)
    markup = (await consent.get(await _unsubscribe_path(consent, auth, key, ext))).text
    assert "<script>" not in markup and "&lt;script&gt;" in markup


async def test_a_browser_confirms_a_double_opt_in_on_a_page_in_its_language(consent, auth, new_id):
    key, ext = await _subject_with_purpose(
        consent, auth, new_id, "fi", double_opt_in_channels=["email"]
    )
    granted = await post_consent(consent, auth, ext, key)
    path = urlsplit(granted.json()["confirmation_url"]).path
    shown = await consent.get(path, headers=BROWSER)
    assert shown.headers["content-type"].startswith("text/html")
    page = Page(shown.text)
    assert page.lang == "fi" and "Haluatko viestejä aiheesta Uutiskirje" in page.text
    [form] = page.forms
    assert form["method"] == "post"
    states = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    assert states.json()[0]["state"] == "pending"  # looking changed nothing
    done = await consent.post(path, data={"confirm": "yes"}, headers=BROWSER)
    assert done.status_code == 200 and "Kiitos, tilaus on vahvistettu" in Page(done.text).text
    states = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    assert states.json()[0]["state"] == "granted"


async def test_a_program_still_gets_json_from_the_confirmation_link(consent, auth, new_id):
    key, ext = await _subject_with_purpose(
        consent, auth, new_id, "sv", double_opt_in_channels=["email"]
    )
    granted = await post_consent(consent, auth, ext, key)
    path = urlsplit(granted.json()["confirmation_url"]).path
    shown = await consent.get(path, headers={"Accept": "application/json"})
    assert shown.json()["language"] == "sv" and shown.json()["titles"]["sv"] == "Nyhetsbrev"
