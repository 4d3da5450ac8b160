"""Several replicas on one PostgreSQL, as real processes: two of each service, two relays, two
DSAR workers, after ``lupa migrate``.

Writes, checks and data-subject requests go through both replicas at once. What must hold:
a withdrawal acknowledged by one consent replica is a "no" on the other at once; every DSAR
job ran once in effect (claimed once, sent to both consent replicas at once by a fan-out
proxy, answered alike by both, recorded and applied once); every state
change has exactly one audit event, the chains verify, and the relays, both running, deliver
each event to a webhook receiver exactly once and in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook

from lupa import consent_connector
from shared.auth.tokens import issue_access_token
from shared.keys import load_keyring
from tests.conftest import _with_database
from tests.e2e.test_stack import _free_port
from tests.loopback_http import QuietHandler, loopback_server

pytestmark = pytest.mark.slow

CONSENT_SUBJECTS = 50  # x (subject + 2 grants + 2 withdrawals) = 250 consent writes
DSAR_SUBJECTS = 20  # one data-subject request each, alternating access and objection
PARALLEL = 8  # requests in flight at once
DEADLINE_S = 90  # for any one wait; a healthy run needs a fraction of it
GRANT = {"purpose": "news", "channel": "email", "action": "grant"}
WITHDRAW = {"purpose": "news", "channel": "email", "action": "withdraw"}


@dataclass
class Replicas:
    consent: list[str]
    dsar: list[str]
    admin: str
    officer: str
    portal: Callable[[str], str]


@dataclass
class Receiver:
    """Audit webhooks as they arrive, per service, with the Standard Webhooks id of each."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, service: str, headers: dict[str, str], body: bytes) -> None:
        try:
            Webhook(self.secrets[service]).verify(body, headers)
        except Exception as exc:  # the test's own judge, not Lupa's code
            self.bad.append(f"{service}: {type(exc).__name__}")
            return
        event = json.loads(body)
        with self.lock:
            self.received.setdefault(service, []).append(
                (headers["webhook-id"], int(event["sequence"]))
            )


@contextmanager
def webhook_receiver() -> Iterator[tuple[Receiver, int]]:
    receiver = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.take(self.path.strip("/"), headers, body)
            self.send_response(204)
            self.end_headers()

    with loopback_server(Handler) as port:
        yield receiver, port


@dataclass
class FanOut:
    """Each connector job sent to both consent replicas at once, as if a worker's retry had
    reached the other replica while the first call was still running; the DSAR service gets
    the answer of one of them (alternating)."""

    upstreams: list[str]
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    turn: int = 0

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        sent = {k: v for k, v in headers.items() if k.startswith("webhook-") or k == "content-type"}
        results: list[httpx.Response | Exception] = [Exception("not sent")] * len(self.upstreams)

        def call(i: int) -> None:
            try:
                results[i] = httpx.post(
                    self.upstreams[i] + path, content=body, headers=sent, timeout=30
                )
            except Exception as exc:  # the record shows it; the DSAR service sees a 502
                results[i] = exc

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(results))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with self.lock:
            self.turn += 1
            chosen = results[self.turn % len(results)]
            self.answers[headers["webhook-id"]] = [
                (r.status_code, r.json().get("status", ""))
                if isinstance(r, httpx.Response)
                else (502, type(r).__name__)
                for r in results
            ]
        if isinstance(chosen, Exception):
            return 502, b"{}"
        return chosen.status_code, chosen.content


@contextmanager
def fan_out(upstreams: list[str]) -> Iterator[tuple[FanOut, int]]:
    fan = FanOut(upstreams)

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = fan.forward(self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    with loopback_server(Handler) as port:
        yield fan, port


@asynccontextmanager
async def empty_database(server_dsn: str) -> AsyncIterator[str]:
    """A database of this test's own, with no tables: ``lupa migrate`` builds them."""
    name = f"lupa_replicas_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def lupa_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lupa", *args], env=env, capture_output=True, text=True
    )


class Processes:
    """Every process the test starts, each logging to a file; all stopped in ``stop``."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, label: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{label}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "lupa", *args],
            env={**self.env, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()  # the child holds its own descriptor
        self.started.append((label, proc))
        return proc

    def dead(self) -> list[str]:
        return [label for label, proc in self.started if proc.poll() is not None]

    def tail(self) -> str:
        return "\n".join(
            f"--- {label} ---\n" + (self.logs / f"{label}.log").read_text()[-2000:]
            for label, _ in self.started
        )

    def stop(self) -> None:
        for _, proc in self.started:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def until(what: str, condition: Callable[[], Awaitable[bool]], procs: Processes) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await condition():
        if procs.dead():
            raise AssertionError(f"{procs.dead()} exited while waiting for {what}\n{procs.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {DEADLINE_S}s: {what}\n{procs.tail()}")
        await asyncio.sleep(0.2)


def test_replicas_agree(tmp_path: Path, server_dsn: str) -> None:
    asyncio.run(_scenario(tmp_path, server_dsn))


async def _scenario(tmp_path: Path, server_dsn: str) -> None:
    home = tmp_path / "home"
    drop = ("LUPA_KEYRING", "LUPA_KEYS_FILE", "LUPA_SMTP_URL", "LUPA_NATS_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    secret = consent_connector.shared_secret(home, {})
    env.update(
        LUPA_HOME=str(home),
        LUPA_LOG_LEVEL="WARNING",
        LUPA_DSAR_JOB_POLL_S="1",
        LUPA_DSAR_INTAKE_PER_IP_HOUR="100000",
        LUPA_DSAR_INTAKE_PER_ADDRESS_HOUR="100000",
        LUPA_DB_POOL_SIZE="5",
        **{consent_connector.SECRET_ENV: secret},
    )
    async with empty_database(server_dsn) as url:
        env["DATABASE_URL"] = url
        migrate = await asyncio.to_thread(lupa_command, env, "migrate")
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        keyring = load_keyring(home / "keys" / "keyring.json", {})  # before any process races
        procs = Processes(tmp_path / "logs", env)
        consent_ports, dsar_ports = [_free_port(), _free_port()], [_free_port(), _free_port()]
        try:
            for i, port in enumerate(consent_ports):
                procs.start(f"consent-{i}", "serve", "consent", LUPA_CONSENT_PORT=str(port))
            for i, port in enumerate(dsar_ports):
                procs.start(
                    f"dsar-{i}",
                    "serve",
                    "dsar",
                    LUPA_DSAR_PORT=str(port),
                    LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{port}",
                )
            for i in range(2):
                procs.start(f"relay-{i}", "relay")
                procs.start(
                    f"worker-{i}",
                    "worker",
                    "--name",
                    f"worker-{i}",
                    LUPA_DSAR_PUBLIC_URL=f"http://127.0.0.1:{dsar_ports[i]}",
                )

            def token(role: str, subject: str | None = None) -> str:
                return issue_access_token(keyring, role, subject, 3600)

            replicas = Replicas(
                consent=[f"http://127.0.0.1:{p}" for p in consent_ports],
                dsar=[f"http://127.0.0.1:{p}" for p in dsar_ports],
                admin=token("admin"),
                officer=token("officer"),
                portal=lambda subject: token("portal", subject),
            )
            limits = httpx.Limits(max_connections=PARALLEL * 2)
            async with httpx.AsyncClient(timeout=30, limits=limits) as http:
                await until("every replica ready", lambda: _all_ready(http, replicas), procs)
                with (
                    webhook_receiver() as (receiver, hook_port),
                    fan_out(replicas.consent) as (fan, fan_port),
                ):
                    # The connector's URL is the fan-out: every job reaches both replicas.
                    status = await asyncio.to_thread(
                        consent_connector.register, keyring, dsar_ports[0], fan_port, secret
                    )
                    assert status in (200, 201)
                    await _drive(http, replicas, receiver, hook_port, url, procs)
                    _assert_both_replicas_answered_alike(fan)
        finally:
            await asyncio.to_thread(procs.stop)
        verify = await asyncio.to_thread(lupa_command, env, "audit", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr


def _assert_both_replicas_answered_alike(fan: FanOut) -> None:
    assert fan.answers, "no job reached the connector"
    for job, answers in fan.answers.items():
        assert [code for code, _ in answers] == [200, 200], (job, answers)
        assert len({status for _, status in answers}) == 1, (job, answers)


async def _all_ready(http: httpx.AsyncClient, replicas: Replicas) -> bool:
    for base in replicas.consent + replicas.dsar:
        try:
            if (await http.get(f"{base}/health/ready")).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


async def _drive(
    http: httpx.AsyncClient,
    replicas: Replicas,
    receiver: Receiver,
    hook_port: int,
    url: str,
    procs: Processes,
) -> None:
    admin = {"Authorization": f"Bearer {replicas.admin}"}
    for service, base in [("consent", replicas.consent[0]), ("dsar", replicas.dsar[1])]:
        created = await http.post(
            f"{base}/v1/audit/webhooks",
            json={"url": f"http://127.0.0.1:{hook_port}/{service}"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        receiver.secrets[service] = created.json()["secret"]
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
    put = await http.put(f"{replicas.consent[1]}/v1/purposes/news", json=purpose, headers=admin)
    assert put.status_code == 201, put.text

    run = secrets.token_hex(3)
    consent_subjects = [f"cust-r{run}-{n}" for n in range(CONSENT_SUBJECTS)]
    dsar_subjects = [f"cust-d{run}-{n}" for n in range(DSAR_SUBJECTS)]
    gate = asyncio.Semaphore(PARALLEL)
    acknowledged: Counter[str] = Counter()
    stale: list[str] = []

    async def write(base: str, path: str, body: dict[str, Any], kind: str) -> None:
        method = http.put if kind == "subject" else http.post
        answer = await method(f"{base}{path}", json=body, headers=admin)
        assert answer.status_code == 201, (kind, answer.status_code, answer.text)
        acknowledged[kind] += 1

    async def allowed(base: str, subject: str) -> bool:
        answer = await http.get(
            f"{base}/v1/check",
            params={"subject": subject, "purpose": "news", "channel": "email"},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["allowed"])

    async def consent_life(n: int, subject: str) -> None:
        """Grant on one replica, withdraw on the other, twice; after each acknowledged write
        the other replica's check must already answer accordingly."""
        async with gate:
            a, b = replicas.consent[n % 2], replicas.consent[(n + 1) % 2]
            await write(a, f"/v1/subjects/{subject}", {"locale": "en"}, "subject")
            for _ in range(2):
                await write(a, f"/v1/subjects/{subject}/consents", GRANT, "grant")
                if not await allowed(b, subject):
                    stale.append(f"{subject}: a grant on {a} not yet seen on {b}")
                await write(b, f"/v1/subjects/{subject}/consents", WITHDRAW, "withdraw")
                if await allowed(a, subject):
                    stale.append(f"{subject}: a withdrawal on {b} still a yes on {a}")
                a, b = b, a

    requests: dict[str, tuple[str, str]] = {}  # request id -> (subject, type)

    async def dsar_life(n: int, subject: str) -> None:
        kind = "access" if n % 2 == 0 else "objection"
        async with gate:
            c = replicas.consent[n % 2]
            await write(c, f"/v1/subjects/{subject}", {"locale": "en"}, "subject")
            await write(c, f"/v1/subjects/{subject}/consents", GRANT, "grant")
            portal = {"Authorization": f"Bearer {replicas.portal(subject)}"}
            filed = await http.post(
                f"{replicas.dsar[n % 2]}/v1/requests", json={"type": kind}, headers=portal
            )
            assert filed.status_code == 201, filed.text
            request_id = filed.json()["id"]
            requests[request_id] = (subject, kind)
            acknowledged[kind] += 1
            officer = {"Authorization": f"Bearer {replicas.officer}"}
            approved = await http.post(
                f"{replicas.dsar[(n + 1) % 2]}/v1/requests/{request_id}/approve", headers=officer
            )
            assert approved.status_code == 200, approved.text

    await asyncio.gather(
        *(consent_life(n, s) for n, s in enumerate(consent_subjects)),
        *(dsar_life(n, s) for n, s in enumerate(dsar_subjects)),
    )
    assert stale == [], stale

    officer = {"Authorization": f"Bearer {replicas.officer}"}

    async def all_completed() -> bool:
        for n, request_id in enumerate(requests):
            base = replicas.dsar[n % 2]
            answer = await http.get(f"{base}/v1/requests/{request_id}", headers=officer)
            if answer.json()["status"] != "completed":
                return False
        return True

    await until("every DSAR request completed", all_completed, procs)
    for n, (subject, kind) in enumerate(requests.values()):
        check_on = replicas.consent[n % 2]
        if kind == "objection":  # the effect, seen by both consent replicas
            for base in replicas.consent:
                assert not await allowed(base, subject), f"{subject} objected on {check_on}"

    db = await asyncpg.connect(url)
    try:
        await until("every event chained and delivered", lambda: _delivered(db, receiver), procs)
        await _assert_jobs_ran_once(db, requests)
        await _assert_one_event_per_change(db, acknowledged)
        await _assert_delivered_once_in_order(db, receiver)
    finally:
        await db.close()


async def _delivered(db: asyncpg.Connection, receiver: Receiver) -> bool:
    unchained = await db.fetchval("SELECT count(*) FROM audit_events WHERE sequence IS NULL")
    if unchained:
        return False
    for service in ("consent", "dsar"):
        head = await db.fetchval(
            "SELECT max(sequence) FROM audit_events WHERE service = $1", service
        )
        got = receiver.received.get(service, [])
        if not got or got[-1][1] < head:
            return False
    return True


async def _assert_jobs_ran_once(db: asyncpg.Connection, requests: dict[str, Any]) -> None:
    jobs = await db.fetch(
        "SELECT id::text AS id, request_id::text AS request_id, status, attempts, worker"
        " FROM dsar_jobs"
    )
    assert sorted(j["request_id"] for j in jobs) == sorted(requests), "one job per request"
    assert {(j["status"], j["attempts"]) for j in jobs} == {("done", 1)}, jobs
    assert {j["worker"] for j in jobs} <= {"worker-0", "worker-1"}
    started = Counter(
        row["job"]
        for row in await db.fetch(
            "SELECT data->>'job' AS job FROM audit_events WHERE type = 'fi.lupa.dsar.job.started'"
        )
    )
    assert started == Counter({j["id"]: 1 for j in jobs}), "each job claimed exactly once"
    # The consent connector's own record: each job answered (its effect applied) once.
    answered = await db.fetch("SELECT job FROM connector_jobs")
    assert sorted(r["job"] for r in answered) == sorted(j["id"] for j in jobs)
    events = Counter(
        row["job"]
        for row in await db.fetch(
            "SELECT data->>'job' AS job FROM audit_events"
            " WHERE type = 'fi.lupa.consent.connector.job_answered'"
        )
    )
    assert events == Counter({j["id"]: 1 for j in jobs})


async def _assert_one_event_per_change(db: asyncpg.Connection, acknowledged: Counter[str]) -> None:
    types = Counter(
        {
            row["type"]: row["n"]
            for row in await db.fetch("SELECT type, count(*) AS n FROM audit_events GROUP BY type")
        }
    )
    subjects = types["fi.lupa.consent.subject.created"]
    assert subjects == acknowledged["subject"], types
    grants, withdrawals = (
        types["fi.lupa.consent.consent.granted"],
        types["fi.lupa.consent.consent.withdrawn"],
    )
    assert (grants, withdrawals) == (acknowledged["grant"], acknowledged["withdraw"]), types
    # Each objection applied once, although both consent replicas received its job.
    assert types["fi.lupa.consent.consent.objected"] == acknowledged["objection"], types


async def _assert_delivered_once_in_order(db: asyncpg.Connection, receiver: Receiver) -> None:
    assert receiver.bad == [], receiver.bad
    for service in ("consent", "dsar"):
        chained = [
            r["sequence"]
            for r in await db.fetch(
                "SELECT sequence FROM audit_events WHERE service = $1 ORDER BY sequence", service
            )
        ]
        assert chained == list(range(1, len(chained) + 1)), f"{service}: gaps in the chain"
        # Owed: every event recorded from the subscription's transaction on (earlier ones
        # are delivered too when the chain had not reached them yet).
        owed_from = await db.fetchval(
            "SELECT min(e.sequence) FROM audit_events e JOIN webhook_subscriptions s"
            " ON s.service = e.service WHERE e.service = $1 AND e.recorded_at >= s.created_at",
            service,
        )
        got = receiver.received[service]
        first = got[0][1]
        assert first <= owed_from, f"{service}: events {first}..{owed_from - 1} never arrived"
        assert [seq for _, seq in got] == list(range(first, chained[-1] + 1)), (
            f"{service}: every event after the subscription, once, in order"
        )
        assert len({webhook_id for webhook_id, _ in got}) == len(got), "no id twice"
