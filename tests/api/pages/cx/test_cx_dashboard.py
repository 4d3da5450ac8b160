"""The CX dashboard over HTTP: sign-in, who may see it, the numbers it shows for events made
through the API, the free-text sample (never an erased subject's), DSAR figures read from a
real DSAR server or "not available", and every language with no missing text."""

from __future__ import annotations

import re

import pytest

from services.consent.web.cx import CATALOGUE, DSAR_URL_KEY
from shared.web.sessions import cookie_name
from tests.api.pages.cx.conftest import cell, erase, free_port, table_rows
from tests.api.pages.cx.feedback_rows import add_feedback
from tests.ledger_helpers import make_subject, post_consent, scene

EN = CATALOGUE.for_language("en")


@pytest.fixture
def dsar_down(consent_app):
    """The dashboard pointed at a loopback port nothing listens on."""
    before = consent_app.state[DSAR_URL_KEY]
    consent_app.state[DSAR_URL_KEY] = f"http://127.0.0.1:{free_port()}"
    yield
    consent_app.state[DSAR_URL_KEY] = before


@pytest.fixture
def dsar_up(consent_app, dsar_server):
    before = consent_app.state[DSAR_URL_KEY]
    consent_app.state[DSAR_URL_KEY] = dsar_server
    yield dsar_server
    consent_app.state[DSAR_URL_KEY] = before


def test_every_language_has_every_text():
    assert CATALOGUE.missing() == {}


async def test_without_a_session_the_dashboard_sends_to_sign_in(pages):
    browser = {"Accept": "text/html,application/xhtml+xml"}
    resp = await pages.get("/cx", headers=browser, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/cx/sign-in"
    program = await pages.get("/cx", follow_redirects=False)  # no HTML asked for: the problem
    assert program.status_code == 401
    assert program.headers["content-type"].startswith("application/problem+json")
    form = await pages.get("/cx/sign-in")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert form.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("role", ["marketing", "portal", "officer"])
async def test_other_roles_get_403(pages, auth, role, dsar_down):
    resp = await pages.get("/cx", headers=auth(role, "cust-1" if role == "portal" else None))
    assert resp.status_code == 403


async def test_sign_in_with_a_cx_token_opens_a_session_and_sign_out_closes_it(
    pages, token, dsar_down
):
    refused = await pages.post("/cx/sign-in", data={"token": token("marketing")})
    assert refused.status_code == 403 and EN["err_token_role"] in refused.text
    garbage = await pages.post("/cx/sign-in", data={"token": "not-a-token"})
    assert garbage.status_code == 401 and EN["err_token_invalid"] in garbage.text
    resp = await pages.post("/cx/sign-in", data={"token": token("cx")}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/cx"
    session = resp.cookies[cookie_name("consent")]
    cookies = {cookie_name("consent"): session}
    page = await pages.get("/cx?lang=en", cookies=cookies)
    assert page.status_code == 200 and EN["dashboard_title"] in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    bad = await pages.post("/cx/sign-out", data={"csrf": "wrong"}, cookies=cookies)
    assert bad.status_code == 403
    out = await pages.post(
        "/cx/sign-out", data={"csrf": csrf}, cookies=cookies, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/cx/sign-in"
    after = await pages.get(
        "/cx", cookies=cookies, headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert after.status_code == 303


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
async def test_every_language_renders(pages, auth, lang, dsar_down):
    t = CATALOGUE.for_language(lang)
    resp = await pages.get(f"/cx?lang={lang}", headers=auth("cx"))
    assert resp.status_code == 200
    assert f'<html lang="{lang}">' in resp.text
    for key in ("dashboard_title", "section_reasons", "section_dsar", "dsar_unavailable"):
        assert t[key] in resp.text
    assert resp.cookies.get("lupa_lang") == lang
    assert resp.headers["cache-control"] == "no-store"
    signin = await pages.get(f"/cx/sign-in?lang={lang}")
    assert t["sign_in_title"] in signin.text


async def test_grants_withdrawals_and_reasons_show_as_made(
    pages, consent, auth, new_id, session_factory, keyring, dsar_down
):
    key, first = await scene(consent, auth, new_id)
    second = new_id("cust")
    await make_subject(consent, auth, second)
    before = await pages.get("/cx?lang=en&weeks=4", headers=auth("cx"))
    privacy_before = int(cell(before.text, "reasons", EN["reason_privacy"]))
    grants_before = int(table_rows(before.text, "weekly")[-1][1])

    for ext in (first, second):
        assert (await post_consent(consent, auth, ext, key)).status_code == 201
    assert (await post_consent(consent, auth, first, key, "withdraw")).status_code == 201
    note = f"Liian usein & liian myöhään {new_id('n')}"
    await add_feedback(session_factory, keyring, first, "withdrawal", "privacy", note, key)

    page = await pages.get("/cx?lang=en&weeks=4", headers=auth("cx"))
    assert page.status_code == 200
    mine = [row for row in table_rows(page.text, "by-purpose") if row[1] == key]
    assert [row[2:] for row in mine] == [["email", "2", "1"]]
    assert int(cell(page.text, "reasons", EN["reason_privacy"])) == privacy_before + 1
    assert int(table_rows(page.text, "weekly")[-1][1]) >= grants_before + 2
    samples = table_rows(page.text, "samples")
    assert [EN["kind_withdrawal"], EN["reason_privacy"], note] in [s[1:] for s in samples]
    assert "&amp;" in page.text  # the free text is escaped, not markup


async def test_an_erased_subjects_text_never_appears(
    pages, consent, auth, new_id, session_factory, keyring, dsar_down
):
    key, ext = await scene(consent, auth, new_id)
    await post_consent(consent, auth, ext, key)
    await post_consent(consent, auth, ext, key, "withdraw")
    secret = f"erase me {new_id('t')}"
    await add_feedback(session_factory, keyring, ext, "withdrawal", "too_many", secret, key)
    shown = await pages.get("/cx?lang=en", headers=auth("cx"))
    assert secret in shown.text  # readable while the subject exists
    too_many = int(cell(shown.text, "reasons", EN["reason_too_many"]))

    await erase(session_factory, keyring, ext)
    page = await pages.get("/cx?lang=en", headers=auth("admin"))
    assert page.status_code == 200
    assert secret not in page.text
    # The count stays: the reason code is not personal data.
    assert int(cell(page.text, "reasons", EN["reason_too_many"])) == too_many


async def test_send_less_pauses_and_stops_are_counted_apart(
    pages, consent, auth, new_id, session_factory, keyring, dsar_down
):
    _, ext = await scene(consent, auth, new_id)
    before = await pages.get("/cx?lang=en", headers=auth("cx"))
    less, stops = (
        int(cell(before.text, "less", EN["send_less"])),
        int(cell(before.text, "less", EN["full_stops"])),
    )
    await add_feedback(session_factory, keyring, ext, "less", "too_many", None)
    await add_feedback(session_factory, keyring, ext, "pause", None, "on holiday")
    await add_feedback(session_factory, keyring, ext, "stop_all", "not_relevant", None)
    page = await pages.get("/cx?lang=en", headers=auth("cx"))
    assert int(cell(page.text, "less", EN["send_less"])) == less + 2
    assert int(cell(page.text, "less", EN["full_stops"])) == stops + 1


async def test_an_unknown_period_says_so_and_shows_the_default(pages, auth, dsar_down):
    page = await pages.get("/cx?lang=en&weeks=999", headers=auth("cx"))
    assert page.status_code == 200 and EN["unknown_period"] in page.text
    assert '<option value="12" selected>' in page.text


async def test_dsar_figures_come_from_the_dsar_service(pages, dsar, auth, new_id, dsar_up):
    filed = await dsar.post(
        "/v1/requests", json={"type": "erasure"}, headers=auth("portal", new_id("cust"))
    )
    assert filed.status_code == 201, filed.text
    page = await pages.get("/cx?lang=en", headers=auth("cx"))
    assert EN["dsar_unavailable"] not in page.text
    rows = table_rows(page.text, "dsar-requests")
    erasures = [r for r in rows if r[0] == EN["type_erasure"] and r[1] == EN["status_received"]]
    assert erasures and int(erasures[0][2]) >= 1


async def test_dsar_down_shows_not_available(pages, auth, dsar_down):
    page = await pages.get("/cx?lang=en", headers=auth("cx"))
    assert page.status_code == 200 and EN["dsar_unavailable"] in page.text
