"""``lupa run`` when a port it needs is taken: a plain refusal before anything starts, and a
readiness wait that another program answering on the port cannot satisfy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from lupa.cli import run


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_run_refuses_a_busy_port_before_starting_anything(
    held_port: int, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LUPA_HOME": str(home),
        "LUPA_CONSENT_PORT": str(held_port),
    }
    env.pop("LUPA_KEYS_FILE", None)
    result = subprocess.run(
        [sys.executable, "-m", "lupa", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"port {held_port} for the consent service is already in use" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr, "names the process holding the port"
    assert "Lupa is running" not in result.stdout + result.stderr
    assert not home.exists(), "nothing was started or created"


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


def test_readiness_answered_by_another_process_does_not_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    impostor = HTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    monkeypatch.setenv("LUPA_CONSENT_PORT", str(impostor.server_address[1]))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        problem = run._wait_until_ready([child], timeout_s=1.5)
    finally:
        child.kill()
        child.wait()
        impostor.shutdown()
        impostor.server_close()
    assert "consent service was not ready" in problem


def test_readiness_wait_reports_a_child_that_exited() -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    child.wait()
    assert "exited before the stack was ready" in run._wait_until_ready([child], timeout_s=5)
