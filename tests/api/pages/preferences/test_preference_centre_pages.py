"""The preference centre over HTTP, as a browser without JavaScript uses it: the signed link
opens a session, every form needs the session's CSRF token, each change is the API's own
(ledger, receipt, audit), "tell us why" is stored sealed, and a session sees only its subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from services.consent.service.preference_links import mint_link
from services.consent.service.unsubscribe import UnsubscribeLink, mint_token
from shared.web.i18n import Catalogue
from tests.api.pages.preferences.conftest import (
    BROWSER,
    Markup,
    customer,
    signed_in,
    signed_link,
)

CATALOGUE = Path(__file__).resolve().parents[4] / "services/consent/web/i18n/preferences"


def test_every_language_has_every_text() -> None:
    catalogue = Catalogue.load(CATALOGUE)
    assert catalogue.missing() == {}
    assert set(catalogue.texts) == {"fi", "sv", "en"}


@pytest.mark.parametrize(
    ("lang", "title", "heading", "description"),
    [
        ("fi", "Uutiskirje", "Mitä saamme lähettää", "Uutisia viikoittain"),
        ("sv", "Nyhetsbrev", "Vad vi får skicka", "News every week"),  # no sv text: en
        ("en", "Newsletter", "What we may send you", "News every week"),
    ],
)
async def test_the_page_speaks_each_language_and_remembers_it(
    consent, pages, auth, new_id, lang, title, heading, description
):
    _, ext = await customer(consent, auth, new_id)
    await signed_in(pages, consent, auth, ext)
    answer = await pages.get(f"/preferences?lang={lang}", headers=BROWSER)
    assert answer.status_code == 200
    assert answer.cookies.get("lupa_lang") == lang
    page = Markup(answer.text)
    assert page.lang == lang and title in page.words and heading in page.words
    assert description in page.words
    again = Markup((await pages.get("/preferences", headers=BROWSER)).text)
    assert again.lang == lang  # from the cookie now


async def test_the_link_opens_a_session_and_leaves_no_token_behind(consent, pages, auth, new_id):
    _, ext = await customer(consent, auth, new_id)
    opened = await pages.get(await signed_link(consent, auth, ext), headers=BROWSER)
    assert opened.status_code == 303 and opened.headers["location"] == "/preferences"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/preferences" in cookie
    assert opened.headers["referrer-policy"] == "no-referrer"
    page = await pages.get("/preferences", headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_expired_and_foreign_tokens_get_a_friendly_page_and_no_session(
    consent, pages, auth, new_id, keyring, token
):
    _, ext = await customer(consent, auth, new_id, locale="fi")
    old = mint_link(keyring, "http://x", ext, now=datetime.now(UTC) - timedelta(days=31))
    expired = await pages.get("/preferences?" + old.url.split("?")[1] + "&lang=fi")
    assert expired.status_code == 410
    assert "uusimmassa viestissämme" in Markup(expired.text).words
    subject = (await consent.get(f"/v1/subjects/{ext}", headers=auth("admin"))).json()
    unsubscribe = mint_token(keyring, UnsubscribeLink(subject["id"], "p", "email"))
    for other in (token("portal", ext), unsubscribe, "not-a-token"):
        refused = await pages.get(f"/preferences?token={other}", headers=BROWSER)
        assert refused.status_code == 400
        assert (
            "set-cookie" not in refused.headers
            or "lupa_session" not in refused.headers["set-cookie"]
        )
    assert (await pages.get("/preferences", headers=BROWSER)).status_code == 401


async def _states(consent, auth, ext) -> dict[str, str]:
    resp = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    return {item["channel"]: item["state"] for item in resp.json()}


@pytest.mark.parametrize("csrf", [None, "wrong"])
async def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    consent, pages, auth, new_id, csrf
):
    key, ext = await customer(consent, auth, new_id)
    await signed_in(pages, consent, auth, ext)
    form = {"purpose": key, "channel": "email"} | ({"csrf": csrf} if csrf else {})
    refused = await pages.post("/preferences/consents", data=form)
    assert refused.status_code == 403
    assert await _states(consent, auth, ext) == {"email": "granted", "sms": "granted"}


async def test_a_withdrawal_with_a_reason_is_the_apis_own(
    consent, pages, auth, new_id, session_factory
):
    key, ext = await customer(consent, auth, new_id)
    page = await signed_in(pages, consent, auth, ext)
    form = page.form("/preferences/consents", key)
    answer = await pages.post(
        "/preferences/consents",
        data={**form, "channel": ["email"], "reason": "privacy", "text": "Secret words"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/preferences?done=saved#notice"
    assert await _states(consent, auth, ext) == {"email": "granted", "sms": "withdrawn"}
    history = await consent.get(f"/v1/subjects/{ext}/consents/history", headers=auth("admin"))
    last = history.json()[-1]
    assert (last["action"], last["channel"], last["source"]) == (
        "withdraw",
        "sms",
        "preference_centre",
    )
    async with session_factory() as session:
        row = (
            await session.execute(
                text(
                    "SELECT f.kind, f.channel, f.reason_code, f.text_ct FROM feedback f"
                    " JOIN subjects s ON s.id = f.subject_id WHERE s.external_id = :e"
                ),
                {"e": ext},
            )
        ).one()
        events = (
            (
                await session.execute(
                    text("SELECT data::text FROM audit_events WHERE type LIKE '%feedback.given'")
                )
            )
            .scalars()
            .all()
        )
    assert (row.kind, row.channel, row.reason_code) == ("withdrawal", "sms", "privacy")
    assert row.text_ct is not None and b"Secret words" not in bytes(row.text_ct)
    assert events and not any("Secret words" in e for e in events)
    done = Markup((await pages.get(answer.headers["location"], headers=BROWSER)).text)
    assert "Your choices are saved." in done.words and "You withdrew consent" in done.words


async def test_send_me_less_pause_and_stop_all_change_the_preferences(consent, pages, auth, new_id):
    _, ext = await customer(consent, auth, new_id)
    page = await signed_in(pages, consent, auth, ext)
    less = await pages.post(
        "/preferences/less",
        data={**page.form("/preferences/less"), "frequency_email": "monthly", "reason": "too_many"},
    )
    assert less.status_code == 303
    page = Markup((await pages.get("/preferences", headers=BROWSER)).text)
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    settings = await pages.post(
        "/preferences/settings",
        data={
            **page.form("/preferences/settings"),
            "paused_until": day,
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "quiet_zone": "Europe/Helsinki",
            "stop_all": "on",
        },
    )
    assert settings.status_code == 303
    prefs = (await consent.get(f"/v1/subjects/{ext}/preferences", headers=auth("admin"))).json()
    assert prefs["channels"]["email"]["frequency"] == "monthly"
    assert prefs["marketing_opt_out"] is True
    assert prefs["quiet_hours"] == {"start": "21:00", "end": "08:00", "timezone": "Europe/Helsinki"}
    assert prefs["paused_until"].startswith(
        (datetime.now(UTC) + timedelta(days=9)).date().isoformat()
    )


async def test_bad_form_input_re_renders_with_a_message_and_changes_nothing(
    consent, pages, auth, new_id
):
    _, ext = await customer(consent, auth, new_id)
    page = await signed_in(pages, consent, auth, ext)
    bad = await pages.post(
        "/preferences/settings",
        data={**page.form("/preferences/settings"), "quiet_start": "25:99", "quiet_end": "08:00"},
    )
    assert bad.status_code == 422 and "Please check the form" in Markup(bad.text).words
    stale = await pages.post(
        "/preferences/less", data={**page.form("/preferences/less"), "frequency_sms": "sometimes"}
    )
    assert stale.status_code == 422
    prefs = (await consent.get(f"/v1/subjects/{ext}/preferences", headers=auth("admin"))).json()
    assert prefs["quiet_hours"] is None and prefs["channels"]["sms"]["frequency"] == "immediately"


async def test_a_session_never_reaches_another_subject(consent, pages, auth, new_id):
    key, ext = await customer(consent, auth, new_id)
    _, other = await customer(consent, auth, new_id)
    await signed_in(pages, consent, auth, ext)
    their_receipt = await _a_receipt(consent, auth, other)
    my_receipt = await _a_receipt(consent, auth, ext)
    assert (await pages.get(f"/preferences/receipts/{their_receipt}")).status_code == 404
    mine_file = await pages.get(f"/preferences/receipts/{my_receipt}")
    assert mine_file.status_code == 200 and mine_file.headers["content-type"] == "application/jose"
    assert "attachment" in mine_file.headers["content-disposition"]
    assert mine_file.text.count(".") == 2  # a compact JWS
    page = Markup((await pages.get("/preferences", headers=BROWSER)).text)
    form = page.form("/preferences/consents", key)
    cleared = await pages.post("/preferences/consents", data={**form, "channel": []})
    assert cleared.status_code == 303, cleared.text
    assert await _states(consent, auth, other) == {"email": "granted", "sms": "granted"}
    assert await _states(consent, auth, ext) == {"email": "withdrawn", "sms": "withdrawn"}


async def _a_receipt(consent, auth, ext) -> str:
    resp = await consent.post(
        f"/v1/subjects/{ext}/consents",
        json={
            "purpose": (await _purpose_of(consent, auth, ext)),
            "channel": "email",
            "action": "grant",
        },
        headers=auth("admin"),
    )
    return str(resp.json()["receipt"]["id"])


async def _purpose_of(consent, auth, ext) -> str:
    resp = await consent.get(f"/v1/subjects/{ext}/consents", headers=auth("admin"))
    return str(resp.json()[0]["purpose"])


async def test_a_portal_bearer_token_sees_the_page_but_cannot_post(consent, pages, auth, new_id):
    key, ext = await customer(consent, auth, new_id)
    page = await pages.get("/preferences", headers={**BROWSER, **auth("portal", ext)})
    assert page.status_code == 200
    markup = Markup(page.text)
    assert "Newsletter" in markup.words and not markup.form("/preferences/consents", key).get(
        "csrf"
    )
    posted = await pages.post(
        "/preferences/consents", data={"purpose": key}, headers=auth("portal", ext)
    )
    assert posted.status_code == 422
    assert await _states(consent, auth, ext) == {"email": "granted", "sms": "granted"}


async def test_the_link_api_mints_only_for_its_own_live_subject(consent, auth, new_id):
    _, ext = await customer(consent, auth, new_id)
    own = await consent.post(f"/v1/subjects/{ext}/preference-links", headers=auth("portal", ext))
    assert own.status_code == 201 and "/preferences?token=" in own.json()["url"]
    other = await consent.post(
        f"/v1/subjects/{ext}/preference-links", headers=auth("portal", new_id("cust"))
    )
    assert other.status_code == 403
    unknown = await consent.post(
        f"/v1/subjects/{new_id('cust')}/preference-links", headers=auth("admin")
    )
    assert unknown.status_code == 404


async def test_sign_out_closes_the_session(consent, pages, auth, new_id):
    _, ext = await customer(consent, auth, new_id)
    page = await signed_in(pages, consent, auth, ext)
    out = await pages.post("/preferences/sign-out", data=page.form("/preferences/sign-out"))
    assert out.status_code == 200 and "You are signed out" in Markup(out.text).words
    assert (await pages.get("/preferences", headers=BROWSER)).status_code == 401


async def test_the_unsubscribe_page_links_to_the_preference_centre(consent, pages, auth, new_id):
    key, ext = await customer(consent, auth, new_id, locale="sv")
    minted = await consent.post(
        "/v1/unsubscribe-links",
        json={"purpose": key, "channel": "email", "subjects": [ext]},
        headers=auth("marketing"),
    )
    path = "/" + minted.json()["links"][0]["url"].split("/", 3)[3]
    done = await consent.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Hantera alla dina val" in done.text
    link = done.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "/preferences?token=" in link
    opened = await pages.get("/preferences?" + link.split("?", 1)[1], headers=BROWSER)
    assert opened.status_code == 303
    page = Markup((await pages.get("/preferences", headers=BROWSER)).text)
    assert page.form("/preferences/consents", key)


async def test_without_a_session_a_browser_gets_a_page_and_a_program_the_problem(pages):
    texts = Catalogue.load(CATALOGUE).for_language("fi")
    browser = await pages.get("/preferences?lang=fi", headers={"Accept": "text/html"})
    assert browser.status_code == 401
    assert browser.headers["content-type"].startswith("text/html")
    assert texts["link_bad_title"] in browser.text  # "open the link of your latest message"
    program = await pages.get("/preferences")
    assert program.status_code == 401
    assert program.headers["content-type"].startswith("application/problem+json")
