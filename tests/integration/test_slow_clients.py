"""Slow and oversized clients against a real ``lupa serve consent`` (the default server) on
loopback, with raw sockets: half a head, a body shorter than its ``Content-Length``, a 1 MB
header and one connection more than the cap each get an answer (or a close) instead of a
connection held open with no answer, and never a ``500``.

The limits are set small here (2 s) so the test is quick; every wait is bounded by a
generous 30 s, so a busy machine makes the test slower, never flaky."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from shared.auth.tokens import issue_access_token
from tests.conftest import migrated_database

GENEROUS_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def consent_service(url: str, keyring, log: Path, **limits: str) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_HOST": "127.0.0.1",
        "LUPA_CONSENT_PORT": str(port),
        "LUPA_LOG_FORMAT": "json",
        **limits,
    }
    env.pop("LUPA_SERVER", None)  # the default server, as `lupa run` starts it
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "lupa", "serve", "consent"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the consent service did not start"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        status, _, _ = exchange(
            port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", 2, close=True
        )
    except OSError:
        return False
    return status == 200


def exchange(
    port: int, raw: bytes, timeout: float = GENEROUS_S, close: bool = False
) -> tuple[int | None, dict[bytes, bytes], bytes]:
    """Send ``raw``, read until the server closes (bounded); (status or None, headers, body).
    With ``close``, read one response only (keep-alive connections)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with suppress(OSError):  # the server may answer and close before it took everything
            sock.sendall(raw)
        data = _read(sock, timeout, one_response=close)
    return parse(data)


def _read(sock: socket.socket, timeout: float, one_response: bool = False) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # closed with our unread bytes in its buffer: a close
            return data
        if not chunk:
            return data
        data += chunk
        if one_response and b"\r\n\r\n" in data:
            _, headers, body = parse(data)
            if len(body) >= int(headers.get(b"content-length", b"0")):
                return data
    raise AssertionError(f"the connection was still open after {timeout:.0f} s: {data[:200]!r}")


def parse(data: bytes) -> tuple[int | None, dict[bytes, bytes], bytes]:
    if not data:
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    return int(status.split()[1]), headers, body


def assert_problem(status: int | None, headers: dict[bytes, bytes], body: bytes, *codes: int):
    assert status in codes, (status, body[:200])
    assert headers[b"content-type"] == b"application/problem+json"
    assert json.loads(body)["status"] == status


def logged_statuses(log: Path) -> list[int]:
    statuses = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "request":
            statuses.append(entry["status"])
    return statuses


@pytest.fixture(scope="module")
async def scratch_url(server_dsn):
    async with migrated_database(server_dsn, "slow_clients") as url:
        yield url


@pytest.fixture(scope="module")
def limited(scratch_url, keyring, tmp_path_factory) -> Iterator[tuple[int, Path]]:
    log = tmp_path_factory.mktemp("slow") / "consent.log"
    with consent_service(
        scratch_url,
        keyring,
        log,
        LUPA_HTTP_HEADER_TIMEOUT="2",
        LUPA_HTTP_BODY_TIMEOUT="2",
    ) as port:
        yield port, log


def test_half_a_head_is_answered_408_and_closed(limited):
    port, _ = limited
    status, headers, body = exchange(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
    assert_problem(status, headers, body, 408)
    assert headers[b"connection"] == b"close"


def test_a_silent_connection_is_closed(limited):
    port, _ = limited
    status, _headers, _body = exchange(port, b"")
    assert status in (None, 408), status  # closed, answered at most with a 408


def test_a_short_body_gets_408_and_no_500(limited, keyring):
    port, log = limited
    token = issue_access_token(keyring, "admin", None, 600)
    raw = (
        b"POST /v1/subjects/slow-1/consents HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"purpos'
    )
    status, headers, body = exchange(port, raw)
    assert_problem(status, headers, body, 408, 400)
    assert headers[b"connection"] == b"close"
    assert json.loads(body)["type"] == "urn:lupa:problem:request-timeout"
    assert 500 not in logged_statuses(log)


def test_a_client_that_leaves_mid_body_is_logged_as_its_fault(limited, keyring):
    port, log = limited
    before = len(logged_statuses(log))
    token = issue_access_token(keyring, "admin", None, 600)
    with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S) as sock:
        sock.sendall(
            b"POST /v1/subjects/slow-2/consents HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"purpos'
        )
        time.sleep(0.5)  # not a timing assertion: lets the request reach the handler first
    deadline = time.monotonic() + GENEROUS_S
    while len(logged_statuses(log)) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    new = logged_statuses(log)[before:]
    assert new and 500 not in new, new


def test_a_1_mb_header_is_refused_and_closed(limited):
    port, _ = limited
    raw = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    status, headers, body = exchange(port, raw)
    assert_problem(status, headers, body, 431, 400)
    assert headers[b"connection"] == b"close"
    assert b"aaaa" not in body


def test_a_connection_beyond_the_cap_is_refused_with_503(scratch_url, keyring, tmp_path):
    cap = 5
    with consent_service(
        scratch_url,
        keyring,
        tmp_path / "consent.log",
        LUPA_HTTP_MAX_CONNECTIONS=str(cap),
        LUPA_HTTP_HEADER_TIMEOUT="120",
        LUPA_HTTP_KEEPALIVE_TIMEOUT="120",
    ) as port:
        time.sleep(0.5)  # the start-up probe's connection is closed by then
        held = []
        try:
            for _ in range(cap):  # each answered once, then kept open
                sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S)
                held.append(sock)
                sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                assert parse(_read(sock, GENEROUS_S, one_response=True))[0] == 200
            status, headers, body = exchange(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert_problem(status, headers, body, 503)
            assert headers[b"retry-after"] == b"1"
            held.pop().close()  # one fewer: a new connection is served again
            deadline = time.monotonic() + GENEROUS_S
            while not _answers(port):
                assert time.monotonic() < deadline, "a connection under the cap was refused"
                time.sleep(0.2)
        finally:
            for sock in held:
                sock.close()
