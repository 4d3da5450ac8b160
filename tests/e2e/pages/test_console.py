"""The officer's console in a real browser against ``lupa run``: sign in, approve an access
request and an erasure filed from the portal, wait for the worker, download the package and
the signed erasure receipt; the public form files a request and takes the mailed code; axe
finds no serious or critical violation on the sign-in page, the inbox and a request page in
Finnish, Swedish and English."""

from __future__ import annotations

import json
import re
import time
import uuid
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from services.dsar.web.pages import CATALOGUE
from tests.e2e.pages.conftest import Stack, serious_violations

EN = CATALOGUE.for_language("en")
POLLS = 60  # bounded wait for the worker: at most POLLS reloads, half a second apart
# The element reaching furthest right, to name what makes a page wider than the screen.
WIDEST = """[...document.querySelectorAll('body *')].map(e => [e.getBoundingClientRect().right,
  e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40)])
  .sort((a, b) => b[0] - a[0])[0]"""


def _subject_with_request(stack: Stack, kind: str) -> tuple[str, str, str]:
    """(subject, email, request id): a customer the consent service knows, who files ``kind``
    from the portal."""
    subject, email = f"cust-{uuid.uuid4().hex[:10]}", f"{uuid.uuid4().hex[:10]}@example.fi"
    admin = stack.token("admin")
    status, _ = stack.call(
        stack.consent,
        "PUT",
        f"/v1/subjects/{subject}",
        admin,
        {"email": email, "name": "Anna Virtanen", "locale": "fi"},
    )
    assert status in (200, 201)
    portal = stack.token("portal", subject)
    status, made = stack.call(stack.dsar, "POST", "/v1/requests", portal, {"type": kind})
    assert status == 201, made
    return subject, email, made["id"]


def _sign_in(stack: Stack, page: Any, lang: str = "en") -> None:
    page.goto(f"{stack.dsar}/console?lang={lang}")
    assert page.url.startswith(f"{stack.dsar}/console/sign-in")  # redirected there
    page.get_by_label(CATALOGUE.for_language(lang)["sign_in_token"]).fill(stack.token("officer"))
    page.get_by_role("button", name=CATALOGUE.for_language(lang)["sign_in_button"]).click()
    page.wait_for_url(f"{stack.dsar}/console")


def _approve_and_wait(stack: Stack, page: Any, request_id: str) -> None:
    page.goto(f"{stack.dsar}/console")
    page.locator(f'a[href="/console/requests/{request_id}"]').click()
    page.get_by_role("button", name=EN["action_approve"]).click()
    assert EN["done_approve"] in page.inner_text("main")
    for _ in range(POLLS):
        if EN["status_completed"] in page.inner_text("h1"):
            return
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError(f"request {request_id} not completed: {page.inner_text('main')[:500]}")


def test_an_officer_works_an_access_request_and_an_erasure(
    stack: Stack, page: Any, tmp_path: Path
) -> None:
    _, email, access = _subject_with_request(stack, "access")
    _, _, erasure = _subject_with_request(stack, "erasure")
    _sign_in(stack, page)

    _approve_and_wait(stack, page, access)
    assert "consent" in page.inner_text("main")  # the connected system's row, answered
    with page.expect_download() as download:
        page.get_by_role("link", name=EN["download_package_json"]).click()
    saved = tmp_path / "package.json"
    download.value.save_as(saved)
    package = json.loads(saved.read_text())
    assert email in json.dumps(package)  # the consent service's answer for this person
    page.get_by_role("link", name=EN["download_package_html"]).click()
    assert email in page.content()
    page.go_back()

    _approve_and_wait(stack, page, erasure)
    with page.expect_download() as download:
        page.get_by_role("link", name=EN["download_receipt"]).click()
    receipt = tmp_path / "receipt.jwt"
    download.value.save_as(receipt)
    keys = KeySet.import_key_set(stack.call(stack.dsar, "GET", "/.well-known/jwks.json", None)[1])
    verified = jws.deserialize_compact(receipt.read_text(), keys, algorithms=["EdDSA"])
    assert verified.headers()["typ"] == "erasure-receipt+jwt"
    claims = json.loads(verified.payload)
    assert any(s["name"] == "consent" and s["result"] == "erased" for s in claims["systems"])

    page.goto(f"{stack.dsar}/console/requests/{erasure}")
    timeline = page.inner_text("main")
    assert EN["ev_request.approved"] in timeline and EN["ev_request.completed"] in timeline


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_console_pages_have_no_serious_accessibility_violations(
    stack: Stack, page: Any, lang: str
) -> None:
    _, _, request_id = _subject_with_request(stack, "restriction")
    page.goto(f"{stack.dsar}/console/sign-in?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    assert serious_violations(page) == []
    _sign_in(stack, page, lang)
    assert page.get_attribute("html", "lang") == lang
    assert serious_violations(page) == []
    page.goto(f"{stack.dsar}/console/requests/{request_id}")
    assert page.get_attribute("html", "lang") == lang
    assert CATALOGUE.for_language(lang)["action_approve"] in page.inner_text("main")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 360, "height": 740})  # a phone: nothing wider than it
    for path in ("/console", f"/console/requests/{request_id}"):
        page.goto(stack.dsar + path)
        widest = page.evaluate(WIDEST)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, (path, widest)


def _code_from_mail(home: Path, address: str) -> str:
    """The one-time code in the mail to ``address`` (the mail relay writes it to a file soon
    after the request commits; bounded wait)."""
    for _ in range(POLLS):
        for path in sorted((home / "mail").glob("*.eml")) if (home / "mail").exists() else []:
            message = message_from_bytes(path.read_bytes(), policy=default_policy)
            if message["To"] != address:
                continue
            body = message.get_body(preferencelist=("plain",))
            found = re.search(r"\b(\d{6})\b", body.get_content() if body is not None else "")
            if found:
                return found.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no code mailed to the test address in {home / 'mail'}")


def test_the_public_form_files_a_request_and_takes_the_code(stack: Stack, page: Any) -> None:
    sv = CATALOGUE.for_language("sv")
    address = f"{uuid.uuid4().hex[:10]}@example.fi"
    page.set_viewport_size({"width": 360, "height": 740})  # filled in on a phone
    page.goto(f"{stack.dsar}/request?lang=sv&type=erasure")
    assert page.get_by_label(sv["type_erasure"]).is_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.evaluate(WIDEST)
    assert serious_violations(page) == []
    page.get_by_label(sv["form_email"]).fill(address)
    page.get_by_role("button", name=sv["form_send"]).click()
    assert sv["code_title"] in page.inner_text("h1")
    assert serious_violations(page) == []
    action = page.get_attribute("form", "action") or ""
    found = re.search(r"/request/([0-9a-f-]{36})/verify", action)
    assert found is not None
    officer = stack.token("officer")
    status, view = stack.call(stack.dsar, "GET", f"/v1/requests/{found.group(1)}", officer)
    assert status == 200 and view["status"] == "identity_pending" and view["locale"] == "sv"

    code = _code_from_mail(stack.home, address)
    page.get_by_label(sv["code_label"]).fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name=sv["code_send"]).click()
    assert sv["err_code_wrong"] in page.inner_text("main")
    page.get_by_label(sv["code_label"]).fill(code)
    page.get_by_role("button", name=sv["code_send"]).click()
    assert sv["outcome_title_verified"] in page.inner_text("h1")
    status, view = stack.call(stack.dsar, "GET", f"/v1/requests/{found.group(1)}", officer)
    assert view["status"] == "received" and view["verified_by"] == "email_code"
