"""The officer's console over HTTP: sign-in, every page in each language, CSRF, roles, and
the workflow buttons calling the same service code as the API."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from typing import Any

import pytest

from services.dsar.web.pages import CATALOGUE
from shared.web.i18n import LANGUAGES
from tests.api.dsar.connectors.helpers import connector_body

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


class Page(HTMLParser):
    """The page's language, its visible text and its forms (action and hidden fields)."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.lang, self.text, self.forms = "", "", []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = found.get("lang", "")
        elif tag == "form":
            self.forms.append(found)
        elif tag == "input" and found.get("type") == "hidden" and self.forms:
            self.forms[-1][found["name"]] = found["value"]

    def handle_data(self, data: str) -> None:
        self.text += data

    def form(self, action_part: str) -> dict[str, str]:
        return next(f for f in self.forms if action_part in f.get("action", ""))


async def sign_in(pages: Any, auth: Any, role: str = "officer") -> Page:
    """Signs the client in (the cookie stays in the client) and returns the inbox."""
    form = Page((await pages.get("/console/sign-in")).text).form("/console/sign-in")
    token = auth(role)["Authorization"].removeprefix("Bearer ")
    answer = await pages.post(
        "/console/sign-in", data={"form_token": form["form_token"], "token": token}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    inbox = await pages.get("/console")
    assert inbox.status_code == 200
    return Page(inbox.text)


async def file_request(dsar: Any, auth: Any, new_id: Any, kind: str = "access") -> str:
    subject = new_id("cust")
    made = await dsar.post(
        "/v1/requests",
        json={"type": kind, "subject": subject},
        headers=auth("officer"),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_every_catalogue_has_every_key() -> None:
    assert CATALOGUE.missing() == {}


async def test_unauthenticated_console_redirects_to_sign_in(pages: Any) -> None:
    answer = await pages.get("/console", headers=BROWSER)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
    page = await pages.get(f"/console/requests/{uuid.uuid4()}", headers=BROWSER)
    assert page.status_code == 303


async def test_a_program_without_a_token_gets_the_401_problem(pages: Any) -> None:
    answer = await pages.get("/console")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_bearer_token_may_post_an_action_without_a_session(
    pages: Any, auth: Any, new_id: Any
) -> None:
    request_id = await file_request(pages, auth, new_id)
    note = await pages.post(
        f"/console/requests/{request_id}/actions/note",
        data={"text": "Recorded by a script"},
        headers=auth("officer"),
    )
    assert note.status_code == 303
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert [n["text"] for n in view["notes"]] == ["Recorded by a script"]


@pytest.mark.parametrize("role", ["marketing", "cx", "portal"])
async def test_sign_in_refuses_other_roles(pages: Any, auth: Any, role: str) -> None:
    form = Page((await pages.get("/console/sign-in")).text).form("/console/sign-in")
    token = auth(role, "cust-1" if role == "portal" else None)["Authorization"][7:]
    answer = await pages.post(
        "/console/sign-in", data={"form_token": form["form_token"], "token": token}
    )
    assert answer.status_code == 403
    assert CATALOGUE.for_language("en")["err_token_role"] in Page(answer.text).text
    assert "set-cookie" not in answer.headers or "lupa_session" not in answer.headers["set-cookie"]
    assert (await pages.get("/console", headers=BROWSER)).status_code == 303


async def test_sign_in_refuses_a_forged_token_and_a_stale_form(pages: Any, auth: Any) -> None:
    form = Page((await pages.get("/console/sign-in")).text).form("/console/sign-in")
    bad = await pages.post(
        "/console/sign-in", data={"form_token": form["form_token"], "token": "x.y.z"}
    )
    assert bad.status_code == 401
    token = auth("officer")["Authorization"][7:]
    stale = await pages.post("/console/sign-in", data={"form_token": "1.abc", "token": token})
    assert stale.status_code == 422
    assert (await pages.get("/console", headers=BROWSER)).status_code == 303


async def test_portal_tokens_never_see_the_console(pages: Any, auth: Any) -> None:
    answer = await pages.get("/console", headers=auth("portal", "cust-1"))
    assert answer.status_code == 403
    assert "<table" not in answer.text


async def test_pages_answer_an_officer_bearer_token_read_only(
    pages: Any, auth: Any, new_id: Any
) -> None:
    request_id = await file_request(pages, auth, new_id)
    inbox = await pages.get("/console", headers=auth("officer"))
    assert inbox.status_code == 200
    assert request_id in inbox.text
    page = await pages.get(f"/console/requests/{request_id}", headers=auth("officer"))
    assert page.status_code == 200
    assert CATALOGUE.for_language("en")["read_only"] in Page(page.text).text
    assert "/actions/approve" not in page.text


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_page_renders_in_each_language(
    pages: Any, auth: Any, new_id: Any, lang: str
) -> None:
    texts = CATALOGUE.for_language(lang)
    sign_in_page = await pages.get(f"/console/sign-in?lang={lang}")
    assert Page(sign_in_page.text).lang == lang
    assert texts["sign_in_title"] in sign_in_page.text
    assert sign_in_page.headers["content-security-policy"].startswith("default-src 'self'")
    assert sign_in_page.headers["cache-control"] == "no-store"
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id)
    inbox = Page((await pages.get(f"/console?lang={lang}")).text)
    assert inbox.lang == lang and texts["inbox_title"] in inbox.text
    page = Page((await pages.get(f"/console/requests/{request_id}")).text)  # cookie remembers
    assert page.lang == lang
    assert texts["action_approve"] in page.text and texts["ev_request.received"] in page.text
    form = Page((await pages.get(f"/request?lang={lang}&type=erasure")).text)
    assert form.lang == lang and texts["form_title"] in form.text
    for template_text in (inbox.text, page.text, form.text):
        assert "type_" not in template_text and "status_" not in template_text


async def test_a_form_without_the_csrf_token_changes_nothing(
    pages: Any, auth: Any, new_id: Any
) -> None:
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id)
    refused = await pages.post(
        f"/console/requests/{request_id}/actions/approve", data={"csrf": "nope"}
    )
    assert refused.status_code == 403
    view = await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))
    assert view.json()["status"] == "received"


async def test_approve_extend_and_note_from_the_console(pages: Any, auth: Any, new_id: Any) -> None:
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id)
    page = Page((await pages.get(f"/console/requests/{request_id}")).text)
    csrf = page.form("/actions/extend")["csrf"]
    no_reason = await pages.post(
        f"/console/requests/{request_id}/actions/extend",
        data={"csrf": csrf, "months": "2", "reason": ""},
    )
    assert no_reason.status_code == 422
    assert CATALOGUE.for_language("en")["err_reason"] in Page(no_reason.text).text
    extended = await pages.post(
        f"/console/requests/{request_id}/actions/extend",
        data={"csrf": csrf, "months": "2", "reason": "Many systems to search"},
    )
    assert extended.status_code == 303
    again = await pages.post(
        f"/console/requests/{request_id}/actions/extend",
        data={"csrf": csrf, "months": "1", "reason": "Still more systems"},
    )
    assert again.status_code == 409  # the service's rule: once
    assert "extended once" in Page(again.text).text
    noted = await pages.post(
        f"/console/requests/{request_id}/actions/note",
        data={"csrf": csrf, "text": "Called the customer"},
    )
    assert noted.status_code == 303
    approved = await pages.post(
        f"/console/requests/{request_id}/actions/approve", data={"csrf": csrf}
    )
    assert approved.status_code == 303
    shown = Page((await pages.get(approved.headers["location"])).text)
    assert CATALOGUE.for_language("en")["done_approve"] in shown.text
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert view["status"] in ("in_progress", "completed")  # completed: no system connected
    assert view["extended_months"] == 2
    assert [n["text"] for n in view["notes"]] == ["Called the customer"]
    kinds = [e["type"] for e in view["timeline"]]
    assert "fi.lupa.dsar.request.extended" in kinds and "fi.lupa.dsar.request.approved" in kinds


async def test_reject_needs_a_reason_and_tells_why(pages: Any, auth: Any, new_id: Any) -> None:
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id, "objection")
    csrf = Page((await pages.get(f"/console/requests/{request_id}")).text).form("/actions/reject")[
        "csrf"
    ]
    short = await pages.post(
        f"/console/requests/{request_id}/actions/reject", data={"csrf": csrf, "reason": "no"}
    )
    assert short.status_code == 422
    done = await pages.post(
        f"/console/requests/{request_id}/actions/reject",
        data={"csrf": csrf, "reason": "Manifestly unfounded"},
    )
    assert done.status_code == 303
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert view["status"] == "rejected" and view["reject_reason"] == "Manifestly unfounded"


async def test_officer_verifies_an_identity_pending_request(
    pages: Any, auth: Any, new_id: Any
) -> None:
    made = await pages.post(
        "/v1/requests", json={"type": "access", "email": f"{new_id('a')}@example.fi"}
    )
    request_id = made.json()["id"]
    await sign_in(pages, auth)
    page = Page((await pages.get(f"/console/requests/{request_id}")).text)
    assert not any("/actions/approve" in f.get("action", "") for f in page.forms)
    csrf = page.form("/actions/verify")["csrf"]
    verified = await pages.post(
        f"/console/requests/{request_id}/actions/verify", data={"csrf": csrf}
    )
    assert verified.status_code == 303
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert view["status"] == "received" and view["verified_by"] == "officer"
    again = await pages.post(f"/console/requests/{request_id}/actions/verify", data={"csrf": csrf})
    assert again.status_code == 409


async def test_sign_out_ends_the_session(pages: Any, auth: Any) -> None:
    inbox = await sign_in(pages, auth)
    out = await pages.post(
        "/console/sign-out", data={"csrf": inbox.form("/console/sign-out")["csrf"]}
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert (await pages.get("/console", headers=BROWSER)).status_code == 303


async def test_inbox_filters_and_marks(pages: Any, auth: Any, new_id: Any) -> None:
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id, "restriction")
    only = await pages.get("/console?type=restriction")
    assert request_id in only.text
    other = await pages.get("/console?type=erasure")
    assert request_id not in other.text
    bad = await pages.get("/console?status=nonsense")
    assert bad.status_code == 422
    assert CATALOGUE.for_language("en")["err_filter"] in Page(bad.text).text


async def test_pause_answer_and_withdraw_from_the_console(
    pages: Any, auth: Any, new_id: Any
) -> None:
    await sign_in(pages, auth)
    request_id = await file_request(pages, auth, new_id, "portability")
    base = f"/console/requests/{request_id}/actions"
    csrf = Page((await pages.get(f"/console/requests/{request_id}")).text).form("/actions/pause")[
        "csrf"
    ]
    empty = await pages.post(f"{base}/pause", data={"csrf": csrf, "question": ""})
    assert empty.status_code == 422
    paused = await pages.post(
        f"{base}/pause",
        data={"csrf": csrf, "pause_reason": "scope", "question": "Which years do you mean?"},
    )
    assert paused.status_code == 303
    page = Page((await pages.get(f"/console/requests/{request_id}")).text)
    assert "Which years do you mean?" in page.text
    assert not any("/actions/approve" in f.get("action", "") for f in page.forms)
    answered = await pages.post(f"{base}/answer", data={"csrf": csrf, "answer": "2024 and 2025"})
    assert answered.status_code == 303
    withdrawn = await pages.post(f"{base}/withdraw", data={"csrf": csrf})
    assert withdrawn.status_code == 303
    view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
    assert view["status"] == "withdrawn"
    assert "2024 and 2025" in [n["text"] for n in view["notes"]]
    closed = Page((await pages.get(f"/console/requests/{request_id}")).text)
    assert not any("/actions/withdraw" in f.get("action", "") for f in closed.forms)


async def test_a_systems_job_is_skipped_with_a_reason_and_retry_needs_a_failure(
    pages: Any, auth: Any, new_id: Any
) -> None:
    name = f"crm{uuid.uuid4().hex[:8]}"
    body = connector_body(url="http://127.0.0.1:9/lupa/jobs", actions=["objection"])
    assert (
        await pages.put(f"/v1/connectors/{name}", json=body, headers=auth("admin"))
    ).status_code in (200, 201)
    try:
        await sign_in(pages, auth)
        request_id = await file_request(pages, auth, new_id, "objection")
        csrf = Page((await pages.get(f"/console/requests/{request_id}")).text).form(
            "/actions/approve"
        )["csrf"]
        await pages.post(f"/console/requests/{request_id}/actions/approve", data={"csrf": csrf})
        page = Page((await pages.get(f"/console/requests/{request_id}")).text)
        assert name in page.text
        jobs = f"/console/requests/{request_id}/connectors/{name}"
        retry = await pages.post(f"{jobs}/retry", data={"csrf": csrf})
        assert retry.status_code == 409  # only a failed job can be retried: the service says so
        assert "Only a failed job can be retried." in Page(retry.text).text
        no_reason = await pages.post(f"{jobs}/skip", data={"csrf": csrf, "reason": ""})
        assert no_reason.status_code == 422
        skipped = await pages.post(
            f"{jobs}/skip", data={"csrf": csrf, "reason": "System retired last year"}
        )
        assert skipped.status_code == 303
        view = (await pages.get(f"/v1/requests/{request_id}", headers=auth("officer"))).json()
        mine = next(c for c in view["connectors"] if c["name"] == name)
        assert mine["status"] == "skipped" and mine["reason"] == "System retired last year"
    finally:
        await pages.delete(f"/v1/connectors/{name}", headers=auth("admin"))
