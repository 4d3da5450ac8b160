"""Data-subject requests through the whole stack that ``lupa run`` starts: both services, the
relay and the DSAR worker as real processes, the consent service joined as a connector.

A customer asks for their data and then for erasure; an officer approves each; the worker runs
the jobs against the consent service over the signed connector protocol; the requester gets a
single-use download link and a signed erasure receipt by mail; afterwards the check says
``erased`` and no table in the database holds the person's email, phone or name in plain text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from tests.conftest import migrated_database
from tests.e2e.test_stack import _free_port, _start, _stop, _wait_for_banner

pytestmark = pytest.mark.slow

EMAIL, PHONE, NAME = "maija.e2e@example.fi", "+358409998877", "Maija Meikäläinen-Testi"
NEW_NAME = "Maija Rectified-Testi"
SUBJECT = "cust-e2e-4411"


def call(
    port: int, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            raw = resp.read()
            kind = resp.headers.get("content-type", "")
            return resp.status, json.loads(raw) if "json" in kind else raw.decode()
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def token(env: dict[str, str], role: str, subject: str | None = None) -> str:
    command = [sys.executable, "-m", "lupa", "token", "issue", "--role", role]
    if subject:
        command += ["--subject", subject]
    return subprocess.run(
        command, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def until_completed(port: int, officer: str, request_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = call(port, "GET", f"/v1/requests/{request_id}", officer)
        assert status == 200, body
        if body["status"] == "completed":
            return body
        time.sleep(0.3)
    raise AssertionError(f"request {request_id} not completed: {body}")


def until(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def file_and_complete(port: int, portal: str, officer: str, body: dict) -> str:
    status, filed = call(port, "POST", "/v1/requests", portal, body)
    assert status == 201 and filed["status"] == "received", filed
    assert call(port, "POST", f"/v1/requests/{filed['id']}/approve", officer)[0] == 200
    done = until_completed(port, officer, filed["id"])
    assert [c["status"] for c in done["connectors"]] == ["done"], done
    return str(filed["id"])


def mails(home: Path, template_hint: str, timeout_s: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = (
            [
                message_from_bytes(p.read_bytes(), policy=default_policy)
                for p in sorted((home / "mail").glob("*.eml"))
            ]
            if (home / "mail").exists()
            else []
        )
        matching = [m for m in found if template_hint in m.get_body(("plain",)).get_content()]
        if matching:
            return matching
        time.sleep(0.3)
    raise AssertionError(f"no mail containing {template_hint!r}")


async def plaintext_hits(url: str, needles: list[str]) -> list[str]:
    """Every column of every table holding one of ``needles`` as UTF-8 text."""
    conn = await asyncpg.connect(url)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN"
            " ('text', 'character varying', 'bytea', 'jsonb', 'json', 'ARRAY')"
        )
        hits = []
        for col in columns:
            expr = f'"{col["column_name"]}"'
            text_of = {"bytea": f"encode({expr}, 'escape')", "ARRAY": f"{expr}::text"}.get(
                col["data_type"], f"{expr}::text"
            )
            for needle in needles:
                found = await conn.fetchval(
                    f'SELECT count(*) FROM "{col["table_name"]}" WHERE {text_of} LIKE $1',
                    f"%{needle}%",
                )
                if found:
                    hits.append(f"{col['table_name']}.{col['column_name']}: {needle}")
        return hits
    finally:
        await conn.close()


def test_access_and_erasure_through_the_stack(tmp_path: Path, server_dsn: str) -> None:
    asyncio.run(_scenario(tmp_path, server_dsn))


async def _scenario(tmp_path: Path, server_dsn: str) -> None:
    async with migrated_database(server_dsn, "lupa_e2e_dsar") as url:
        home = tmp_path / "home"
        consent_port, dsar_port = _free_port(), _free_port()
        env = {**os.environ, "DATABASE_URL": url, "LUPA_HOME": str(home)}
        env.update(
            LUPA_CONSENT_PORT=str(consent_port),
            LUPA_DSAR_PORT=str(dsar_port),
            LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{dsar_port}",
            LUPA_DSAR_JOB_POLL_S="1",
        )
        env.pop("LUPA_SMTP_URL", None)
        admin, officer = token(env, "admin"), token(env, "officer")
        portal = token(env, "portal", SUBJECT)
        stack = _start(env)
        try:
            banner = _wait_for_banner(stack)
            assert "consent connector" in banner and "mail" in banner
            await asyncio.to_thread(
                _work_the_requests, consent_port, dsar_port, admin, officer, portal, home
            )
            hits = await plaintext_hits(url, [EMAIL, PHONE, NAME, NEW_NAME, SUBJECT])
            # The scan sees plain text: the customer id is stored as such (a pseudonym)...
            assert any(hit.endswith(SUBJECT) for hit in hits), hits
            # ...but no email, phone or name is left anywhere, in any table.
            assert [hit for hit in hits if not hit.endswith(SUBJECT)] == [], hits
        finally:
            _stop(stack)


def _work_the_requests(
    consent_port: int, dsar_port: int, admin: str, officer: str, portal: str, home: Path
) -> None:
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
    assert call(consent_port, "PUT", "/v1/purposes/news", admin, purpose)[0] == 201
    person = {"email": EMAIL, "phone": PHONE, "name": NAME, "locale": "fi"}
    assert call(consent_port, "PUT", f"/v1/subjects/{SUBJECT}", admin, person)[0] == 201
    grant = {"purpose": "news", "channel": "email", "action": "grant"}
    assert call(consent_port, "POST", f"/v1/subjects/{SUBJECT}/consents", admin, grant)[0] == 201

    # Access: filed from the portal, approved by the officer, answered through the consent
    # service's connector, mailed as a single-use link.
    status, access = call(
        dsar_port,
        "POST",
        "/v1/requests",
        portal,
        {"type": "access", "email": EMAIL, "locale": "fi"},
    )
    assert status == 201 and access["status"] == "received", access
    assert call(dsar_port, "POST", f"/v1/requests/{access['id']}/approve", officer)[0] == 200
    done = until_completed(dsar_port, officer, access["id"])
    assert done["outcome"] == "fulfilled"
    assert [(c["name"], c["status"]) for c in done["connectors"]] == [("consent", "done")]
    status, package = call(dsar_port, "GET", f"/v1/requests/{access['id']}/package", officer)
    assert status == 200 and EMAIL in json.dumps(package)
    [ready] = mails(home, "/v1/downloads/")
    link = re.search(
        r"http://127\.0\.0\.1:\d+(/v1/downloads/\S+)", ready.get_body(("plain",)).get_content()
    )
    assert link, "the mail carries the download link"
    first = call(dsar_port, "GET", link.group(1))
    assert first[0] == 200 and EMAIL in str(first[1])
    assert call(dsar_port, "GET", link.group(1))[0] == 410  # single use

    # Portability: the same systems, only what the person provided, in the package format.
    rid = file_and_complete(dsar_port, portal, officer, {"type": "portability"})
    status, portable = call(dsar_port, "GET", f"/v1/requests/{rid}/package", officer)
    assert status == 200 and EMAIL in json.dumps(portable)

    # Restriction: from the next check on the answer is no (restricted); lifting it tells the
    # requester first, then the systems lift it.
    check_path = f"/v1/check?subject={SUBJECT}&purpose=news&channel=email"
    restrict = {"type": "restriction", "email": EMAIL, "locale": "fi"}
    rid = file_and_complete(dsar_port, portal, officer, restrict)
    assert "restricted" in call(consent_port, "GET", check_path, admin)[1]["reasons"]
    now = datetime.now(UTC).isoformat()
    lifted = call(
        dsar_port, "POST", f"/v1/requests/{rid}/lift-restriction", officer, {"lift_at": now}
    )
    assert lifted[0] == 200, lifted
    mails(home, "rajoitus")  # the Finnish notice that the restriction is being lifted
    until(lambda: call(consent_port, "GET", check_path, admin)[1]["allowed"] is True)

    # Rectification changes the name in the consent service.
    changes = {"type": "rectification", "changes": {"name": NEW_NAME}}
    file_and_complete(dsar_port, portal, officer, changes)
    assert call(consent_port, "GET", f"/v1/subjects/{SUBJECT}", admin)[1]["name"] == NEW_NAME

    # Objection: marketing stops (objected) until a new grant.
    file_and_complete(dsar_port, portal, officer, {"type": "objection"})
    assert "objected" in call(consent_port, "GET", check_path, admin)[1]["reasons"]
    assert call(consent_port, "POST", f"/v1/subjects/{SUBJECT}/consents", admin, grant)[0] == 201
    assert call(consent_port, "GET", check_path, admin)[1]["allowed"] is True

    # Erasure: the consent service shreds the subject; the requester gets a signed receipt.
    status, erasure = call(
        dsar_port, "POST", "/v1/requests", portal, {"type": "erasure", "email": EMAIL}
    )
    assert status == 201, erasure
    assert call(dsar_port, "POST", f"/v1/requests/{erasure['id']}/approve", officer)[0] == 200
    until_completed(dsar_port, officer, erasure["id"])
    status, check = call(
        consent_port,
        "GET",
        f"/v1/check?subject={SUBJECT}&purpose=news&channel=email",
        token=admin,
    )
    assert status == 200 and check["allowed"] is False and "erased" in check["reasons"]
    status, receipt = call(
        dsar_port, "GET", f"/v1/requests/{erasure['id']}/erasure-receipt", officer
    )
    assert status == 200
    keys = KeySet.import_key_set(call(dsar_port, "GET", "/.well-known/jwks.json")[1])
    verified = jws.deserialize_compact(receipt["receipt"], keys, algorithms=["EdDSA"])
    assert verified.headers()["typ"] == "erasure-receipt+jwt"
    claims = json.loads(verified.payload)
    assert any(s["name"] == "consent" and s["result"] == "erased" for s in claims["systems"])
    assert EMAIL not in verified.payload.decode()
    mails(home, receipt["receipt"][:40])  # the requester got it by mail too
    status, after = call(dsar_port, "GET", f"/v1/requests/{erasure['id']}", officer)
    assert after["email"] is None  # the request keeps only what proves it was honoured
