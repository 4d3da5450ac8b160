"""The CX dashboard in Chromium, against ``lupa run``: sign in with a cx token, see a
withdrawal made through the API with the reason given for it, the DSAR panel filled from the
DSAR service, and no serious accessibility violation in Finnish, Swedish and English."""

from __future__ import annotations

import uuid

import pytest

from services.consent.web.cx import CATALOGUE
from tests.e2e.pages.conftest import serious_violations
from tests.e2e.pages.cx_seed import withdraw_with_reason

pytestmark = pytest.mark.slow


def sign_in(stack, page, lang: str = "en") -> None:
    page.goto(f"{stack.consent}/cx?lang={lang}")
    assert page.url.endswith("/cx/sign-in")  # no session yet: sent to sign in
    page.fill("#token", stack.token("cx"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.consent}/cx")


def test_a_withdrawal_and_its_reason_show_on_the_dashboard(stack, page):
    purpose, customer = f"cx-{uuid.uuid4().hex[:8]}", f"cust-{uuid.uuid4().hex[:8]}"
    note = f"Viestejä tuli joka päivä {uuid.uuid4().hex[:6]}"
    withdraw_with_reason(stack, purpose, customer, "too_many", note)
    sign_in(stack, page)
    en = CATALOGUE.for_language("en")
    row = page.locator("#by-purpose tr", has_text=purpose)
    assert row.locator("td").all_inner_texts()[1:] == [purpose, "email", "1", "1"]
    reasons = page.locator("#reasons tr", has_text=en["reason_too_many"])
    assert int(reasons.locator("td").inner_text()) >= 1
    assert page.locator("#samples", has_text=note).count() == 1
    assert page.locator("#dsar-unavailable").count() == 0  # read from the DSAR service
    assert page.locator("svg[role=img]").count() == 2

    page.select_option("#weeks", "4")
    page.get_by_role("button", name=en["show"]).click()
    assert "weeks=4" in page.url and page.locator("#by-purpose", has_text=purpose).count() == 1

    page.get_by_role("button", name=en["sign_out"]).click()
    page.wait_for_url(f"{stack.consent}/cx/sign-in")
    page.goto(f"{stack.consent}/cx")
    assert page.url.endswith("/cx/sign-in")


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_no_serious_accessibility_violation(stack, page, lang):
    page.goto(f"{stack.consent}/cx/sign-in?lang={lang}")
    assert serious_violations(page) == []
    sign_in(stack, page, lang)
    t = CATALOGUE.for_language(lang)
    assert page.locator("h1").inner_text() == t["dashboard_title"]
    assert page.locator("html").get_attribute("lang") == lang
    assert serious_violations(page) == []
