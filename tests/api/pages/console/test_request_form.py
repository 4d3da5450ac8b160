"""The public request form: files through the same intake as the API, shows the code step,
checks the code with the same verification, and refuses a form it did not serve."""

from __future__ import annotations

import re
from typing import Any

from services.dsar.web.pages import CATALOGUE
from tests.api.pages.console.test_console_pages import Page


async def _file(pages: Any, email: str, kind: str = "access", **extra: str) -> Page:
    form = Page((await pages.get(f"/request?type={kind}")).text).form("/request")
    answer = await pages.post(
        "/request", data={"form_token": form["form_token"], "type": kind, "email": email, **extra}
    )
    assert answer.status_code == 201, answer.text
    return Page(answer.text)


def _request_id(page: Page) -> str:
    action = page.form("/verify")["action"]
    found = re.search(r"/request/([0-9a-f-]{36})/verify", action)
    assert found
    return found.group(1)


async def test_the_form_preselects_the_type(pages: Any) -> None:
    markup = (await pages.get("/request?type=erasure&lang=fi")).text
    assert re.search(r'value="erasure"[^>]*checked', markup)
    assert CATALOGUE.for_language("fi")["form_title"] in markup


async def test_filing_shows_the_code_step_and_a_wrong_code_counts(
    pages: Any, auth: Any, new_id: Any
) -> None:
    page = await _file(pages, f"{new_id('p')}@example.fi")
    assert CATALOGUE.for_language("en")["code_title"] in page.text
    request_id = _request_id(page)
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert view["status"] == "identity_pending" and view["origin"] == "public"
    token = page.form("/verify")["form_token"]
    wrong = await pages.post(
        f"/request/{request_id}/verify", data={"form_token": token, "code": "000000"}
    )
    # A wrong code might be right by chance once in a million; the attempt counts either way.
    if wrong.status_code == 422:
        assert CATALOGUE.for_language("en")["err_code_wrong"] in Page(wrong.text).text
        timeline = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
        assert "fi.lupa.dsar.identity.code_rejected" in [e["type"] for e in timeline["timeline"]]


async def test_a_rectification_needs_a_new_value(pages: Any, new_id: Any) -> None:
    form = Page((await pages.get("/request")).text).form("/request")
    answer = await pages.post(
        "/request",
        data={
            "form_token": form["form_token"],
            "type": "rectification",
            "email": f"{new_id('r')}@example.fi",
        },
    )
    assert answer.status_code == 422
    assert CATALOGUE.for_language("en")["err_changes"] in Page(answer.text).text
    page = await _file(
        pages, f"{new_id('r')}@example.fi", "rectification", new_phone="+358 40 123 4567"
    )
    assert _request_id(page)


async def test_a_form_lupa_did_not_serve_is_refused(pages: Any, new_id: Any) -> None:
    answer = await pages.post(
        "/request",
        data={"form_token": "123.forged", "type": "access", "email": f"{new_id('f')}@example.fi"},
    )
    assert answer.status_code == 422
    assert CATALOGUE.for_language("en")["err_form_expired"] in Page(answer.text).text
