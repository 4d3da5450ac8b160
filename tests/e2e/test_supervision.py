"""``lupa run`` keeps its stack up: a killed service or a killed embedded PostgreSQL comes back.

Real processes and real signals: ``kill -9`` a service and its port answers again from a new
pid; ``kill -9`` the postmaster and the check path answers 503 problems (never "allowed") until
``lupa run`` has started PostgreSQL again, then answers as before. The supervisor itself is
paused (SIGSTOP) around the PostgreSQL kill so that "while it is down" is a state the test
holds, not a race it hopes to win.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.test_stack import _free_port, _postgres_running, _start, _wait_for_banner

pytestmark = pytest.mark.slow

SUBJECT = "cust-sup-1"
CHECK = f"/v1/check?subject={SUBJECT}&purpose=news&channel=email"


def _request(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, (resp.headers.get_content_type(), json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, (exc.headers.get_content_type(), json.loads(exc.read()))


def _until(
    condition: Callable[[], Any], timeout_s: float = 60, log: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = condition()
        except OSError:  # connection refused while a process restarts
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time; lupa run said:\n" + log())


def _service_pid(run: subprocess.Popen[str], service: str) -> int | None:
    for child in psutil.Process(run.pid).children():
        try:
            command = child.cmdline()
        except psutil.NoSuchProcess:  # the killed one, gone or a zombie not yet reaped
            continue
        if command[-2:] == ["serve", service]:
            return int(child.pid)
    return None


def _ready_from(port: int, pid: int) -> bool:
    from lupa.cli import ports

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as resp:
        return resp.status == 200 and bool(ports.holders(port, [pid]))


class _Output:
    """Drains ``lupa run``'s output after the banner so its pipe never fills."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self.thread = threading.Thread(
            target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True
        )
        self.thread.start()

    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def stack(tmp_path: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        LUPA_HOME=str(tmp_path / "home"),
        LUPA_CONSENT_PORT=str(_free_port()),
        LUPA_DSAR_PORT=str(_free_port()),
        LUPA_LOG_LEVEL="WARNING",
    )
    token = subprocess.run(
        [sys.executable, "-m", "lupa", "token", "issue", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    run = _start(env)
    _wait_for_banner(run)
    output = _Output(run)
    try:
        yield run, int(env["LUPA_CONSENT_PORT"]), token, tmp_path / "home" / "pg", output
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=60)
    assert run.returncode == 0, "Ctrl-C still stops the stack cleanly"
    output.thread.join(timeout=10)
    assert "Lupa stopped." in output.text()
    assert not _postgres_running(tmp_path / "home" / "pg"), "PostgreSQL stops with lupa run"


def test_a_killed_service_is_restarted(stack: Any) -> None:
    run, port, _, _, output = stack
    first = _service_pid(run, "consent")
    assert first is not None and _ready_from(port, first)

    os.kill(first, signal.SIGKILL)
    second = _until(lambda: (pid := _service_pid(run, "consent")) not in (None, first) and pid)
    _until(lambda: _ready_from(port, second))
    assert run.poll() is None, "lupa run itself keeps running"
    _until(lambda: "restarted the consent service" in output.text())
    assert f"the consent service (pid {first}) was killed by SIGKILL" in output.text()


def test_a_killed_embedded_postgres_is_restarted_and_checks_fail_closed_meanwhile(
    stack: Any,
) -> None:
    run, port, token, pgdata, output = stack
    purpose = {"legal_basis": "consent", "title": {"en": "News"}, "channels": ["email"]}
    assert _request(port, "PUT", "/v1/purposes/news", token, purpose)[0] == 201
    assert _request(port, "PUT", f"/v1/subjects/{SUBJECT}", token, {"locale": "fi"})[0] == 201
    grant = {"purpose": "news", "channel": "email", "action": "grant"}
    assert _request(port, "POST", f"/v1/subjects/{SUBJECT}/consents", token, grant)[0] == 201
    status, (_, decision) = _request(port, "GET", CHECK, token)
    assert status == 200 and decision["allowed"] is True

    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(run.pid, signal.SIGSTOP)  # hold the supervisor so PostgreSQL stays down for now
    try:
        os.kill(postmaster, signal.SIGKILL)
        # Tighten a parent of the data directory, as a second pytest session does to
        # /tmp/pytest-of-<user>: run as root, pgserver starts PostgreSQL as its own user, and a
        # restart that does not open the path to it again fails with "Permission denied".
        os.chmod(pgdata.parent.parent, 0o700)
        status, (content_type, problem) = _until(lambda: _down_answer(port, token))
        assert status == 503 and content_type == "application/problem+json"
        assert problem.get("allowed") is not True and problem["status"] == 503
    finally:
        os.kill(run.pid, signal.SIGCONT)

    _until(
        lambda: "restarted the embedded PostgreSQL" in output.text(),
        120,
        lambda: output.text() + "\nPostgreSQL's log ends:\n" + (pgdata / "log").read_text()[-3000:],
    )
    status, (_, decision) = _until(
        lambda: (answer := _request(port, "GET", CHECK, token))[0] == 200 and answer
    )
    assert decision["allowed"] is True, "the consent given before the crash is still there"
    assert f"the embedded PostgreSQL (pid {postmaster}) is down" in output.text()
    assert run.poll() is None


def _down_answer(port: int, token: str) -> tuple[int, Any] | None:
    """The check's answer once the service has noticed PostgreSQL is gone (None before)."""
    answer = _request(port, "GET", CHECK, token)
    return answer if answer[0] != 200 else None


def test_a_stale_postmaster_pid_reused_by_another_program_does_not_stop_the_restart(
    stack: Any,
) -> None:
    """After a crash, the pid in ``postmaster.pid`` may be given to another program: neither
    the supervisor nor the restart may take that program for PostgreSQL."""
    run, port, token, pgdata, output = stack
    lock = pgdata / "postmaster.pid"
    postmaster = int(lock.read_text().split()[0])
    impostor = subprocess.Popen(["sleep", "120"])  # a bounded stand-in
    os.kill(run.pid, signal.SIGSTOP)
    try:
        os.kill(postmaster, signal.SIGKILL)
        _until(lambda: not psutil.pid_exists(postmaster) or _zombie(postmaster), 30)
        lines = lock.read_text().splitlines()
        lock.write_text("\n".join([str(impostor.pid), *lines[1:]]) + "\n")
    finally:
        os.kill(run.pid, signal.SIGCONT)
    try:
        _until(
            lambda: "restarted the embedded PostgreSQL" in output.text(),
            120,
            lambda: (
                output.text() + "\nPostgreSQL's log ends:\n" + (pgdata / "log").read_text()[-3000:]
            ),
        )
        # The database answers again: a read that needs it succeeds.
        _until(lambda: _request(port, "GET", "/v1/purposes", token)[0] == 200)
        assert impostor.poll() is None, "the other program was left alone"
        assert int(lock.read_text().split()[0]) not in (postmaster, impostor.pid)
    finally:
        impostor.kill()
        impostor.wait()


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
