"""Every log line of the whole stack is free of personal data.

``lupa run`` starts both services, the relay and the DSAR worker as real processes, logging JSON
at DEBUG into one file. A corpus of subjects (unicode names, plus-addressed emails, phones from
several countries) goes through every kind of route that takes personal data: subjects created
and updated, consents granted and withdrawn, preferences changed, look-ups by email, links,
DSARs from the portal and from the public form (code by mail, verification), approval,
execution through the consent connector, the access package, rectification, erasure, officers'
notes; and through the error paths that could echo input (invalid emails and phones, over-long
names, unparseable bodies). Then every captured line is searched for each email, phone and name
in the forms a logger could write them: as given, lower-cased, URL-encoded, JSON-escaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import migrated_database
from tests.e2e.test_dsar_stack import token, until_completed
from tests.e2e.test_stack import _free_port

pytestmark = pytest.mark.slow

BANNER_END = "stop              Ctrl-C"


@dataclass(frozen=True)
class Person:
    subject: str
    email: str
    phone: str
    name: str


PEOPLE = [
    Person("cust-log-0001", "maija.loki+dsar@example.fi", "+358409991234", "Maija Meikäläinen"),
    Person("cust-log-0002", "aegir+uutiset@example.is", "+3545551234", "Ægir Þórsson"),
    Person("cust-log-0003", "Zoe.Li+Tag@Example.com", "+447700900123", "Zoë 李小龙 O'Brien"),
    Person("cust-log-0004", "jose.nunez+x@example.es", "+34612345678", "José Núñez-García"),
]
RECTIFIED_NAME = "Ægir Þórsson-Rektifioitu"
# Input the services refuse: a log line that echoed the refused value would show it.
BAD_EMAIL = "väärä.osoite+virhe@@example.fi"
BAD_PHONE = "+358 40 ABC virhe"
LONG_NAME = "Überlang Nimi " * 40


def needles_of(value: str) -> set[str]:
    """``value`` as a log line might carry it."""
    forms = {value, value.lower(), quote(value, safe=""), quote_plus(value)}
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}  # \u00e4 for ä, as JSON logs do
    return forms


def personal_data() -> dict[str, str]:
    """Each needle -> what it is, for a readable failure."""
    found: dict[str, str] = {}
    values = [BAD_EMAIL, BAD_PHONE, LONG_NAME.strip(), RECTIFIED_NAME]
    for person in PEOPLE:
        values += [person.email, person.phone, person.name, *person.name.split()[-1:]]
        values.append(person.phone.removeprefix("+"))  # the number without its plus
    for value in values:
        for needle in needles_of(value):
            found[needle] = value
    return found


def call(
    port: int,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any, dict[str, str]]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=data, headers=sent
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            content = resp.read()
            kind = resp.headers.get("content-type", "")
            parsed = json.loads(content) if "json" in kind else content.decode()
            return resp.status, parsed, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``lupa run`` writing everything it and its children print into ``log`` (a file, not a
    pipe: a full pipe would block the children mid-request)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lupa", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_banner(proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if BANNER_END in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, "lupa run exited:\n" + log.read_text(errors="replace")
        time.sleep(0.2)
    raise AssertionError("lupa run did not come up:\n" + log.read_text(errors="replace"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)


def test_no_log_line_carries_an_email_phone_or_name(tmp_path: Path, server_dsn: str) -> None:
    asyncio.run(_scenario(tmp_path, server_dsn))


async def _scenario(tmp_path: Path, server_dsn: str) -> None:
    async with migrated_database(server_dsn, "lupa_e2e_logs") as url:
        home, log = tmp_path / "home", tmp_path / "stack.log"
        consent_port, dsar_port = _free_port(), _free_port()
        env = {**os.environ, "DATABASE_URL": url, "LUPA_HOME": str(home)}
        env.update(
            LUPA_CONSENT_PORT=str(consent_port),
            LUPA_DSAR_PORT=str(dsar_port),
            LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{dsar_port}",
            LUPA_DSAR_JOB_POLL_S="1",
            LUPA_LOG_LEVEL="DEBUG",
            LUPA_LOG_FORMAT="json",
        )
        env.pop("LUPA_SMTP_URL", None)
        tokens = {role: token(env, role) for role in ("admin", "officer")}
        portals = {p.subject: token(env, "portal", p.subject) for p in PEOPLE}
        stack = _start(env, log)
        try:
            _wait_for_banner(stack, log)
            await asyncio.to_thread(_run_the_corpus, consent_port, dsar_port, tokens, portals, home)
        finally:
            _stop(stack)
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()

    assert sum('"event": "request"' in line for line in lines) > 50, "the access log was captured"
    leaks = [
        f"{what!r} in: {line[:300]}"
        for line in lines
        for needle, what in personal_data().items()
        if needle in line
    ]
    assert leaks == [], "personal data reached the logs:\n" + "\n".join(sorted(set(leaks)))


def _run_the_corpus(
    consent: int, dsar: int, tokens: dict[str, str], portals: dict[str, str], home: Path
) -> None:
    admin, officer = tokens["admin"], tokens["officer"]
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email", "sms"]}
    assert call(consent, "PUT", "/v1/purposes/news", admin, purpose)[0] == 201

    for person in PEOPLE:
        _consent_life(consent, admin, person)
    _consent_errors(consent, admin, PEOPLE[0])

    first, second, third, fourth = PEOPLE
    # Access from the portal: approved, run through the consent connector, packaged.
    rid = _file_and_complete(dsar, portals[first.subject], officer, {"type": "access"})
    status, package, _ = call(dsar, "GET", f"/v1/requests/{rid}/package", officer)
    assert status == 200 and first.email in json.dumps(package)
    note = {"text": f"Soitettu: {first.name}, {first.phone}, {first.email}"}
    assert call(dsar, "POST", f"/v1/requests/{rid}/notes", officer, note)[0] == 201

    # The public form: the email gets a code, the code verifies the request.
    public = {"type": "access", "email": fourth.email, "locale": "en"}
    status, filed, _ = call(dsar, "POST", "/v1/requests", body=public)
    assert status == 201 and filed["identity"] == "code_sent", filed
    assert call(dsar, "POST", f"/v1/requests/{filed['id']}/verify", body={"code": "000000"})[0] in (
        409,
        422,
    )
    assert call(dsar, "POST", f"/v1/requests/{filed['id']}/resend-code")[0] == 202
    mail = _mails_to(home, fourth.email, count=2)[-1]  # the resent code
    code = re.search(r"\b(\d{6})\b", mail.get_body(("plain",)).get_content())
    assert code, "the mail carries the code"
    verified = call(dsar, "POST", f"/v1/requests/{filed['id']}/verify", body={"code": code[1]})
    assert verified[0] == 200, verified[1]
    assert call(dsar, "POST", f"/v1/requests/{filed['id']}/approve", officer)[0] == 200
    until_completed(dsar, officer, filed["id"])

    # Rectification with a new (unicode) name, objection, erasure.
    changes = {"type": "rectification", "changes": {"name": RECTIFIED_NAME}}
    _file_and_complete(dsar, portals[second.subject], officer, changes)
    _file_and_complete(dsar, portals[third.subject], officer, {"type": "objection"})
    erasure = {"type": "erasure", "email": first.email}
    _file_and_complete(dsar, portals[first.subject], officer, erasure)
    check = f"/v1/check?subject={first.subject}&purpose=news&channel=email"
    assert "erased" in call(consent, "GET", check, admin)[1]["reasons"]

    # DSAR error paths that could echo what was sent.
    for bad in (
        {"type": "access", "email": BAD_EMAIL},
        {"type": "access", "email": second.email, "changes": {"name": LONG_NAME}},
        {"type": "rectification", "email": third.email, "changes": {"phone": BAD_PHONE}},
    ):
        status, problem, _ = call(dsar, "POST", "/v1/requests", body=bad)
        assert status == 422, problem
    raw = f'{{"type": "access", "email": "{second.email}"'.encode()  # truncated JSON
    assert call(dsar, "POST", "/v1/requests", raw=raw)[0] == 400


def _mails_to(home: Path, address: str, count: int, timeout_s: float = 30) -> list[Any]:
    """The mails sent to ``address``, oldest first, once there are ``count``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        files = sorted((home / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        found = [message_from_bytes(p.read_bytes(), policy=default_policy) for p in files]
        matching = [m for m in found if address.lower() in str(m["To"]).lower()]
        if len(matching) >= count:
            return matching
        time.sleep(0.3)
    raise AssertionError(f"no mail to {address!r}")


def _file_and_complete(port: int, portal: str, officer: str, body: dict[str, Any]) -> str:
    status, filed, _ = call(port, "POST", "/v1/requests", portal, body)
    assert status == 201, filed
    assert call(port, "POST", f"/v1/requests/{filed['id']}/approve", officer)[0] == 200
    until_completed(port, officer, filed["id"])
    return str(filed["id"])


def _consent_life(port: int, admin: str, person: Person) -> None:
    """A subject's life in the consent service, every route that takes or returns its data."""
    path = f"/v1/subjects/{person.subject}"
    details = {"email": person.email, "phone": person.phone, "name": person.name, "locale": "fi"}
    assert call(port, "PUT", path, admin, details)[0] == 201
    assert call(port, "PUT", path, admin, {**details, "locale": "en"})[0] == 200
    assert call(port, "GET", path, admin)[0] == 200
    found = call(port, "POST", "/v1/subjects/lookup", admin, {"email": person.email})
    assert found[0] == 200, found[1]
    for action in ("grant", "withdraw", "grant"):
        grant = {"purpose": "news", "channel": "email", "action": action}
        assert call(port, "POST", f"{path}/consents", admin, grant)[0] == 201
    status, _, headers = call(port, "GET", f"{path}/preferences", admin)
    assert status == 200
    patch = {"language": "fi", "channels": {"sms": {"enabled": False}}}
    changed = call(
        port, "PATCH", f"{path}/preferences", admin, patch, {"If-Match": headers["etag"]}
    )
    assert changed[0] == 200, changed[1]
    links = {"purpose": "news", "channel": "email", "subjects": [person.subject]}
    assert call(port, "POST", "/v1/unsubscribe-links", admin, links)[0] == 200
    assert call(port, "POST", f"{path}/preference-links", admin)[0] == 201
    assert call(port, "GET", f"{path}/consents/history", admin)[0] == 200


def _consent_errors(port: int, admin: str, person: Person) -> None:
    """Refused input, each a problem that must not echo (or log) what it refused."""
    path = f"/v1/subjects/{person.subject}-bad"
    for bad in (
        {"email": BAD_EMAIL, "name": person.name},
        {"phone": BAD_PHONE, "email": person.email},
        {"name": LONG_NAME, "phone": person.phone},
        {"name": 42, "email": [person.email]},
    ):
        status, problem, _ = call(port, "PUT", path, admin, bad)
        assert status == 422, problem
    assert call(port, "POST", "/v1/subjects/lookup", admin, {"email": BAD_EMAIL})[0] == 422
    raw = f'{{"email": "{person.email}", "name": "{person.name}"'.encode()  # truncated JSON
    assert call(port, "PUT", path, admin, raw=raw)[0] == 400
    # An email where a customer id goes: the path is personal data then, and the logs carry
    # only the route template.
    assert call(port, "GET", f"/v1/subjects/{quote(person.email)}", admin)[0] in (404, 422)
