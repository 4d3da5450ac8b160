"""A customer in a real browser: the signed link from ``lupa link preferences`` opens their
preference centre; in Finnish they ask for less email and withdraw text messages with a
reason, and the check API then answers a sender accordingly. axe finds no serious problem in
any language, and the page works from the keyboard alone."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import urlencode

from tests.e2e.pages.conftest import Stack, serious_violations

TITLES = {"en": "Newsletter", "fi": "Uutiskirje", "sv": "Nyhetsbrev"}


def _customer(stack: Stack, grants: tuple[str, ...]) -> tuple[str, str]:
    key, ext = f"news-{uuid.uuid4().hex[:8]}", f"cust-{uuid.uuid4().hex[:8]}"
    admin = stack.token("admin")
    purpose = {"legal_basis": "consent", "title": TITLES, "channels": ["email", "sms"]}
    status, body = stack.call(stack.consent, "PUT", f"/v1/purposes/{key}", admin, purpose)
    assert status in (200, 201), body
    subject = {"email": f"{ext}@example.com", "locale": "en"}
    status, body = stack.call(stack.consent, "PUT", f"/v1/subjects/{ext}", admin, subject)
    assert status in (200, 201), body
    for channel in grants:
        grant = {"purpose": key, "channel": channel, "action": "grant"}
        status, body = stack.call(
            stack.consent, "POST", f"/v1/subjects/{ext}/consents", admin, grant
        )
        assert status == 201, body
    return key, ext


def _link(stack: Stack, ext: str) -> str:
    command = [sys.executable, "-m", "lupa", "link", "preferences", "--subject", ext]
    done = subprocess.run(command, env=stack.env, check=True, capture_output=True, text=True)
    url = done.stdout.strip()
    assert url.startswith(f"{stack.consent}/preferences?token=")
    return url


def _check(stack: Stack, ext: str, key: str, channel: str) -> dict[str, Any]:
    query = urlencode({"subject": ext, "purpose": key, "channel": channel})
    status, body = stack.call(stack.consent, "GET", f"/v1/check?{query}", stack.token("marketing"))
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def _states(stack: Stack, ext: str) -> dict[str, str]:
    status, body = stack.call(
        stack.consent, "GET", f"/v1/subjects/{ext}/consents", stack.token("admin")
    )
    assert status == 200, body
    items = body["consents"] if isinstance(body, dict) else body
    return {item["channel"]: item["state"] for item in items}


def test_less_email_and_no_sms_reach_the_check_api(stack: Stack, page: Any) -> None:
    key, ext = _customer(stack, ("email", "sms"))
    assert _check(stack, ext, key, "email")["deliver_after"] is None
    page.goto(_link(stack, ext))
    assert page.url == f"{stack.consent}/preferences"  # the token is out of the address bar
    page.get_by_role("link", name="Suomi").click()
    assert page.locator("html").get_attribute("lang") == "fi"

    page.locator("#f-email").select_option("weekly")
    page.locator("form[action='/preferences/less'] button[type=submit]").click()
    assert "Valintasi on tallennettu." in page.locator("#notice").inner_text()

    form = page.locator(f"form:has(input[name=purpose][value='{key}'])")
    form.get_by_label("Tekstiviesti").uncheck()
    form.locator("summary").click()
    form.get_by_label("Viestejä tulee liikaa").check()
    form.get_by_label("Omin sanoin").fill("Liian usein")
    form.get_by_role("button", name="Tallenna").click()
    assert "Valintasi on tallennettu." in page.locator("#notice").inner_text()
    assert page.locator("html").get_attribute("lang") == "fi"  # remembered in lupa_lang

    email = _check(stack, ext, key, "email")
    assert email["allowed"] is True and email["deliver_after"] is not None
    sms = _check(stack, ext, key, "sms")
    assert sms["allowed"] is False and "withdrawn" in sms["reasons"]
    assert "Peruit suostumuksen" in page.locator("#history ~ ul").first.inner_text()


def test_no_serious_accessibility_problem_in_any_language(stack: Stack, page: Any) -> None:
    _, ext = _customer(stack, ("email",))
    page.goto(_link(stack, ext))
    for lang in ("fi", "sv", "en"):
        page.goto(f"{stack.consent}/preferences?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = true; })")
        assert serious_violations(page) == [], lang


def test_a_phone_sized_screen_needs_no_sideways_scrolling(stack: Stack, page: Any) -> None:
    _, ext = _customer(stack, ("email",))
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(_link(stack, ext))
    for lang in ("fi", "sv", "en"):  # Finnish words are long
        page.goto(f"{stack.consent}/preferences?lang={lang}")
        page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = true; })")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, lang


def test_keyboard_alone_turns_a_channel_on(stack: Stack, page: Any) -> None:
    key, ext = _customer(stack, ("email",))
    page.goto(_link(stack, ext))
    mine = f"e => e.value === 'sms' && e.form && e.form.purpose.value === '{key}'"
    for _ in range(300):  # bounded: other tests' purposes come first on the page, five stops each
        page.keyboard.press("Tab")
        if page.evaluate(f"({mine})(document.activeElement)"):
            break
    else:
        raise AssertionError("Tab never reached the text-message checkbox")
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked") is True
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    else:
        raise AssertionError("Tab never reached the form's button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.consent}/preferences?done=saved#notice")
    assert _states(stack, ext)["sms"] == "granted"
    assert _check(stack, ext, key, "sms")["allowed"] is True
