"""``lupa run`` as an operator uses it: start, serve, Ctrl-C, start again and find the data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lupa", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_banner(proc: subprocess.Popen[str], timeout_s: float = 60) -> str:
    seen = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if "stop              Ctrl-C" in line:
            return "".join(seen)
    proc.kill()
    raise AssertionError("lupa run did not come up:\n" + "".join(seen))


def _call(
    port: int, method: str, path: str, token: str, body: dict | None = None
) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def _stop(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C the stack; returns everything it printed after the banner."""
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def _postgres_running(datadir: Path) -> bool:
    pidfile = datadir / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_serves_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        LUPA_HOME=str(tmp_path / "home"),
        LUPA_CONSENT_PORT=str(port),
        LUPA_DSAR_PORT=str(_free_port()),
        LUPA_LOG_LEVEL="INFO",
    )
    token = subprocess.run(
        [sys.executable, "-m", "lupa", "token", "issue", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    first = _start(env)
    banner = _wait_for_banner(first)
    assert f"http://127.0.0.1:{port}" in banner
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
    assert _call(port, "PUT", "/v1/purposes/news", token, purpose)[0] == 201
    person = {"email": "maija.meikalainen@example.fi", "phone": "+358401112223", "name": "Maija"}
    assert _call(port, "PUT", "/v1/subjects/cust-pii-7731", token, person)[0] == 201
    logs = _stop(first)
    assert first.returncode == 0
    assert '"route": "/v1/subjects/{external_id}"' in logs, "one access line per request"
    for secret in ("maija", "Maija", "+358401112223", "cust-pii-7731", token):
        assert secret not in logs, f"personal data or a token reached the logs: {secret}"
    assert not _postgres_running(tmp_path / "home" / "pg"), "PostgreSQL must stop with lupa run"

    second = _start(env)
    _wait_for_banner(second)
    try:
        status, purposes = _call(port, "GET", "/v1/purposes", token)
        assert status == 200 and [p["key"] for p in purposes] == ["news"]
    finally:
        _stop(second)
