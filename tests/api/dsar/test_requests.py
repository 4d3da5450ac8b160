"""Data-subject requests over HTTP: intake by portal, officer and the public form (one-time code
by mail), the workflow actions and their problems, the inbox, duplicates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from services.dsar.domain.deadlines import due_at
from services.dsar.mail.transport import EmlDirectoryTransport
from services.dsar.service.mail import send_due_mail

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def deliver(session_factory, keyring, outbox_dir):
    """Send every queued mail into ``outbox_dir`` as .eml files; return the new messages."""
    seen: set[Path] = set()

    async def send() -> list[Message]:
        transport = EmlDirectoryTransport(outbox_dir)
        for _ in range(50):  # bounded: other tests' mail may be queued too
            if await send_due_mail(session_factory, keyring, transport, limit=50) == 0:
                break
        new = sorted(set(outbox_dir.glob("*.eml")) - seen) if outbox_dir.exists() else []
        seen.update(new)
        return [message_from_bytes(p.read_bytes(), policy=default_policy) for p in new]

    return send


def body_of(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",)) if hasattr(message, "get_body") else message
    return part.get_content()  # type: ignore[union-attr]


async def mails_to(deliver, address: str) -> list[Message]:
    return [m for m in await deliver() if address in str(m["To"])]


async def public_request(dsar, email: str, type_: str = "access", locale: str = "en") -> dict:
    resp = await dsar.post("/v1/requests", json={"type": type_, "email": email, "locale": locale})
    assert resp.status_code == 201, resp.text
    return resp.json()


def code_in(message: Message) -> str:
    found = re.search(r"\b(\d{6})\b", body_of(message))
    assert found, "the mail carries a six-digit code"
    return found.group(1)


async def test_a_portal_request_is_verified_at_once_and_due_in_one_month(dsar, auth, new_id):
    subject = new_id("cust")
    resp = await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal", subject))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "received" and body["identity"] == "verified"
    due = datetime.fromisoformat(body["due_at"])
    expected = due_at(datetime.now(UTC))
    assert abs(due - expected) < timedelta(seconds=5)
    assert due.astimezone(HELSINKI).strftime("%H:%M") == "23:59"

    got = await dsar.get(f"/v1/requests/{body['id']}", headers=auth("portal", subject))
    assert got.status_code == 200 and got.json()["subject"] == subject
    assert "timeline" not in got.json() or got.json()["timeline"] == []  # officers' view only


async def test_the_public_form_mails_a_code_and_verifying_starts_the_clock(
    dsar, auth, new_id, deliver
):
    address = f"{new_id('anna')}@example.fi"
    created = await public_request(dsar, address, locale="fi")
    assert created["status"] == "identity_pending" and created["identity"] == "code_sent"
    [mail] = await mails_to(deliver, address)
    code = code_in(mail)

    verified = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": code})
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "received"
    # the clock stood still while waiting: the deadline moved by that time, not less
    assert verified.json()["due_at"] >= created["due_at"]

    again = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": code})
    assert again.status_code == 409  # a code works once

    officer = (await dsar.get(f"/v1/requests/{created['id']}", headers=auth("officer"))).json()
    assert officer["email"] == address and officer["verified_by"] == "email_code"
    types = [t["type"] for t in officer["timeline"]]
    assert "fi.lupa.dsar.identity.code_sent" in types and "fi.lupa.dsar.identity.verified" in types


async def test_wrong_codes_count_and_the_last_one_closes_the_request(dsar, auth, new_id, deliver):
    address = f"{new_id('bob')}@example.fi"
    created = await public_request(dsar, address)
    [mail] = await mails_to(deliver, address)
    right = code_in(mail)
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        resp = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": wrong})
        assert resp.status_code == 422, resp.text
        assert resp.json()["type"] == "urn:lupa:problem:code-rejected"
        assert resp.json()["attempts_left"] == left
    last = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": wrong})
    assert last.status_code == 409 and last.json()["type"] == "urn:lupa:problem:too-many-attempts"
    late = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": right})
    assert late.status_code == 409  # closed: even the right code no longer opens it
    got = (await dsar.get(f"/v1/requests/{created['id']}", headers=auth("officer"))).json()
    assert got["status"] == "rejected" and got["outcome"] == "unverified"
    closed = await mails_to(deliver, address)
    assert len(closed) == 1  # the requester is told the request was closed


async def test_an_unknown_address_gets_the_same_answer_and_mail(dsar, new_id, deliver):
    # No account enumeration: nothing in the answer says whether the address is known.
    address = f"{new_id('nobody')}@example.invalid"
    created = await public_request(dsar, address)
    assert set(created) == {"id", "type", "status", "due_at", "identity", "duplicate_of"}
    assert created["status"] == "identity_pending"
    assert len(await mails_to(deliver, address)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "access"}, "email"),  # no token, no address
        ({"type": "teleport", "email": "a@b.fi"}, None),
        ({"type": "rectification", "email": "a@b.fi"}, "changes"),
        ({"type": "rectification", "email": "a@b.fi", "changes": {}}, "changes"),
        ({"type": "access", "email": "a@b.fi", "changes": {"name": "X"}}, "changes"),
        ({"type": "access", "email": "not-an-address"}, None),
        ({"type": "access", "email": "a@b.fi", "subject": "cust-1"}, "subject"),
        ({"type": "access", "email": "a@b.fi", "locale": "de"}, None),
    ],
)
async def test_bad_intake_is_a_422_and_creates_nothing(dsar, engine, body, field):
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM dsar_requests"))).scalar_one()
    resp = await dsar.post("/v1/requests", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in resp.text
    async with engine.connect() as conn:
        after = (await conn.execute(text("SELECT count(*) FROM dsar_requests"))).scalar_one()
    assert after == before


@pytest.mark.parametrize("role", ["marketing", "cx"])
async def test_roles_without_business_here_cannot_file_or_read(dsar, auth, role, new_id):
    filed = await dsar.post(
        "/v1/requests", json={"type": "access", "subject": new_id("c")}, headers=auth(role)
    )
    assert filed.status_code == 403
    assert (await dsar.get("/v1/requests", headers=auth(role))).status_code == 403


async def test_an_unbound_portal_token_may_not_file(dsar, auth):
    resp = await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal"))
    assert resp.status_code == 403


async def test_a_portal_token_never_reads_another_subjects_request(dsar, auth, new_id):
    mine, other = new_id("cust"), new_id("cust")
    created = await dsar.post(
        "/v1/requests", json={"type": "erasure"}, headers=auth("portal", other)
    )
    rid = created.json()["id"]
    assert (await dsar.get(f"/v1/requests/{rid}", headers=auth("portal", mine))).status_code == 403
    withdraw = await dsar.post(
        f"/v1/requests/{rid}/withdraw", json={}, headers=auth("portal", mine)
    )
    assert withdraw.status_code == 403
    filed = await dsar.post(
        "/v1/requests", json={"type": "access", "subject": other}, headers=auth("portal", mine)
    )
    assert filed.status_code == 403


async def test_a_second_request_of_the_same_type_rides_on_the_first(dsar, auth, new_id):
    subject = new_id("cust")
    first = (
        await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal", subject))
    ).json()
    second = (
        await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal", subject))
    ).json()
    assert second["duplicate_of"] == first["id"] and second["status"] == "completed"
    other_type = (
        await dsar.post("/v1/requests", json={"type": "erasure"}, headers=auth("portal", subject))
    ).json()
    assert other_type["duplicate_of"] is None and other_type["status"] == "received"


async def test_an_unverified_request_never_rides_on_a_verified_one(dsar, new_id, deliver):
    address = f"{new_id('cara')}@example.fi"
    first = await public_request(dsar, address)
    second = await public_request(dsar, address)
    assert second["duplicate_of"] is None and second["status"] == "identity_pending"
    codes = {}
    for mail in await mails_to(deliver, address):
        codes.setdefault("first", code_in(mail)) if "first" not in codes else codes.setdefault(
            "second", code_in(mail)
        )
    # Verify the first; the second still needs its own code before it is linked.
    verified = []
    for rid in (first["id"], second["id"]):
        for code in codes.values():
            resp = await dsar.post(f"/v1/requests/{rid}/verify", json={"code": code})
            if resp.status_code == 200:
                verified.append(resp.json())
                break
    assert len(verified) == 2
    assert verified[0]["duplicate_of"] is None
    assert verified[1]["duplicate_of"] == first["id"] and verified[1]["status"] == "completed"


async def officer_request(dsar, auth, new_id, type_: str = "access") -> dict:
    resp = await dsar.post(
        "/v1/requests", json={"type": type_, "subject": new_id("cust")}, headers=auth("officer")
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_extend_once_by_at_most_two_months_with_a_reason(dsar, auth, new_id):
    req = await officer_request(dsar, auth, new_id)
    path = f"/v1/requests/{req['id']}/extend"
    officer = auth("officer")
    assert (
        await dsar.post(path, json={"months": 3, "reason": "complex"}, headers=officer)
    ).status_code == 422
    assert (await dsar.post(path, json={"months": 1}, headers=officer)).status_code == 422
    assert (
        await dsar.post(path, json={"months": 2, "reason": ""}, headers=officer)
    ).status_code == 422
    done = await dsar.post(path, json={"months": 2, "reason": "many systems"}, headers=officer)
    assert done.status_code == 200, done.text
    received = datetime.fromisoformat(done.json()["received_at"])
    assert datetime.fromisoformat(done.json()["due_at"]) == due_at(received, extended_months=2)
    assert done.json()["extended_months"] == 2
    assert done.json()["extension_reason"] == "many systems"
    again = await dsar.post(path, json={"months": 1, "reason": "more"}, headers=officer)
    assert again.status_code == 409 and again.json()["type"] == "urn:lupa:problem:already-extended"


async def test_reject_needs_a_reason_and_closes_the_request(dsar, auth, new_id):
    req = await officer_request(dsar, auth, new_id)
    path = f"/v1/requests/{req['id']}/reject"
    assert (await dsar.post(path, json={}, headers=auth("officer"))).status_code == 422
    done = await dsar.post(path, json={"reason": "manifestly unfounded"}, headers=auth("officer"))
    assert done.status_code == 200
    assert done.json()["status"] == "rejected" and done.json()["reject_reason"]
    assert (
        await dsar.post(f"/v1/requests/{req['id']}/approve", headers=auth("officer"))
    ).status_code == 409


async def test_approving_an_unverified_request_is_refused(dsar, auth, new_id):
    req = await public_request(dsar, f"{new_id('d')}@example.fi")
    resp = await dsar.post(f"/v1/requests/{req['id']}/approve", headers=auth("officer"))
    assert resp.status_code == 409
    got = (await dsar.get(f"/v1/requests/{req['id']}", headers=auth("officer"))).json()
    assert got["status"] == "identity_pending"


async def test_pausing_stops_the_clock_until_the_requester_answers(dsar, auth, new_id, engine):
    req = await officer_request(dsar, auth, new_id)
    rid = req["id"]
    paused = await dsar.post(
        f"/v1/requests/{rid}/pause",
        json={"question": "Which of your two accounts?", "reason": "clarification"},
        headers=auth("officer"),
    )
    assert paused.status_code == 200 and paused.json()["status"] == "awaiting_requester"
    assert paused.json()["paused"] is True
    assert (
        await dsar.post(f"/v1/requests/{rid}/approve", headers=auth("officer"))
    ).status_code == 409
    # Pretend the question went out three days ago.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE dsar_requests SET paused_at = paused_at - interval '3 days' WHERE id = :id"
            ),
            {"id": rid},
        )
    answered = await dsar.post(
        f"/v1/requests/{rid}/answer", json={"answer": "The one ending 42."}, headers=auth("officer")
    )
    assert answered.status_code == 200 and answered.json()["status"] == "received"
    moved = datetime.fromisoformat(answered.json()["due_at"]) - datetime.fromisoformat(
        req["due_at"]
    )
    assert timedelta(days=3) <= moved < timedelta(days=3, minutes=1)
    assert [n["text"] for n in answered.json()["notes"]] == ["The one ending 42."]


async def test_the_inbox_is_ordered_by_deadline_and_filters(dsar, auth, new_id, engine):
    assignee = new_id("officer")
    a = await officer_request(dsar, auth, new_id)
    b = await officer_request(dsar, auth, new_id, "erasure")
    for req in (a, b):
        await dsar.post(
            f"/v1/requests/{req['id']}/assign", json={"assignee": assignee}, headers=auth("officer")
        )
    async with engine.begin() as conn:  # b is older: its deadline comes first, and has passed
        await conn.execute(
            text("UPDATE dsar_requests SET due_at = now() - interval '1 day' WHERE id = :id"),
            {"id": b["id"]},
        )
    inbox = (await dsar.get(f"/v1/requests?assignee={assignee}", headers=auth("officer"))).json()
    assert [r["id"] for r in inbox] == [b["id"], a["id"]]
    assert inbox[0]["overdue"] is True and inbox[1]["overdue"] is False
    overdue = (
        await dsar.get(f"/v1/requests?assignee={assignee}&overdue=true", headers=auth("officer"))
    ).json()
    assert [r["id"] for r in overdue] == [b["id"]]
    erasures = (
        await dsar.get(f"/v1/requests?assignee={assignee}&type=erasure", headers=auth("officer"))
    ).json()
    assert [r["id"] for r in erasures] == [b["id"]]
    bad = await dsar.get("/v1/requests?status=lost", headers=auth("officer"))
    assert bad.status_code == 422


async def test_notes_are_sealed_and_no_personal_data_reaches_the_audit_trail(
    dsar, auth, new_id, engine
):
    address = f"{new_id('eve')}@example.fi"
    req = (
        await dsar.post(
            "/v1/requests",
            json={
                "type": "rectification",
                "subject": new_id("cust"),
                "email": address,
                "changes": {"name": "Eve Secretname"},
            },
            headers=auth("officer"),
        )
    ).json()
    await dsar.post(
        f"/v1/requests/{req['id']}/notes",
        json={"text": "Called Eve Secretname"},
        headers=auth("officer"),
    )
    async with engine.connect() as conn:
        events = (
            (
                await conn.execute(
                    text("SELECT data::text FROM audit_events WHERE subject = :s"), {"s": req["id"]}
                )
            )
            .scalars()
            .all()
        )
        raw = (
            await conn.execute(
                text("SELECT row_to_json(r)::text FROM dsar_requests r WHERE id = :id"),
                {"id": req["id"]},
            )
        ).scalar_one()
        notes = (
            (
                await conn.execute(
                    text("SELECT body_ct FROM dsar_notes WHERE request_id = :id"), {"id": req["id"]}
                )
            )
            .scalars()
            .all()
        )
    assert events, "the steps were audited"
    for blob in [*events, raw]:
        assert address not in blob and "Secretname" not in blob
    assert all(b"Secretname" not in n for n in notes)
    got = (await dsar.get(f"/v1/requests/{req['id']}", headers=auth("officer"))).json()
    assert got["changes"] == {"name": "Eve Secretname"} and got["email"] == address


async def test_unknown_requests_are_404_and_bad_ids_422(dsar, auth):
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await dsar.get(f"/v1/requests/{missing}", headers=auth("officer"))).status_code == 404
    assert (await dsar.get("/v1/requests/not-a-uuid", headers=auth("officer"))).status_code in (
        404,
        422,
    )


async def test_the_public_intake_is_rate_limited_per_address(dsar, new_id):
    address = f"{new_id('flood')}@example.fi"
    for _ in range(5):
        assert (
            await dsar.post("/v1/requests", json={"type": "access", "email": address})
        ).status_code == 201
    limited = await dsar.post("/v1/requests", json={"type": "access", "email": address.upper()})
    assert limited.status_code == 429
    assert limited.json()["type"] == "urn:lupa:problem:rate-limited"
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    # another address from the same client is still served
    other = await dsar.post(
        "/v1/requests", json={"type": "access", "email": f"{new_id('x')}@example.fi"}
    )
    assert other.status_code == 201


async def test_a_new_code_can_be_asked_for_and_the_old_one_stops_working(dsar, new_id, deliver):
    address = f"{new_id('gus')}@example.fi"
    created = await public_request(dsar, address)
    [first] = await mails_to(deliver, address)
    resent = await dsar.post(f"/v1/requests/{created['id']}/resend-code")
    assert resent.status_code == 202 and resent.json()["status"] == "identity_pending"
    [second] = await mails_to(deliver, address)
    old, new = code_in(first), code_in(second)
    if old != new:  # one chance in a million they are equal
        stale = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": old})
        assert stale.status_code == 422
    ok = await dsar.post(f"/v1/requests/{created['id']}/verify", json={"code": new})
    assert ok.status_code == 200 and ok.json()["status"] == "received"
    again = await dsar.post(f"/v1/requests/{created['id']}/resend-code")
    assert again.status_code == 409  # verified: nothing to resend


async def test_a_portal_token_lists_only_its_own_subjects_requests(dsar, auth, new_id):
    mine, other = new_id("cust"), new_id("cust")
    for subject in (mine, other):
        await dsar.post("/v1/requests", json={"type": "access"}, headers=auth("portal", subject))
    listed = await dsar.get("/v1/requests", headers=auth("portal", mine))
    assert listed.status_code == 200 and {r["subject"] for r in listed.json()} == {mine}
    peek = await dsar.get(f"/v1/requests?subject={other}", headers=auth("portal", mine))
    assert peek.status_code == 403
    assert (await dsar.get("/v1/requests", headers=auth("portal"))).status_code == 403
