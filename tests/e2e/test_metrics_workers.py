"""``lupa serve consent --workers 2``: a scrape reports every worker's requests, whichever
worker answers it (prometheus-client's multiprocess mode, directory prepared by ``lupa serve``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.auth.tokens import issue_metrics_token
from shared.keys import load_keyring
from tests.api.metrics.scrape import samples, value

pytestmark = pytest.mark.slow
REQUESTS = 60
SCRAPES = 8
LIVE = {"route": "/health/live", "method": "GET", "status": "200"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:  # a new connection each time
        return resp.status, resp.read().decode()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    """Poll until ``condition`` holds (a wait for start-up, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.3)


def _live_total(port: int, token: str) -> float:
    return value(_get(port, "/metrics", token)[1], "lupa_http_requests_total", **LIVE)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "lupa serve exited"
        try:
            if _get(port, "/health/ready")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("lupa serve did not become ready")


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    home = tmp_path / "home"
    stale = home / "metrics" / "consent"
    stale.mkdir(parents=True)
    (stale / "counter_999999.db").write_bytes(b"left by an earlier run")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        DATABASE_URL=database_url,
        LUPA_CONSENT_PORT=str(port),
        LUPA_HOME=str(home),
        LUPA_KEYS_FILE=str(tmp_path / "keyring.json"),
        LUPA_LOG_FORMAT="json",
    )
    load_keyring(tmp_path / "keyring.json")  # created here, before two workers race to
    proc = subprocess.Popen(
        [sys.executable, "-m", "lupa", "serve", "consent", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(proc, port)
        yield port, issue_metrics_token(load_keyring(tmp_path / "keyring.json"), 600), stale
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_every_scrape_counts_the_requests_of_both_workers(two_workers):
    port, token, directory = two_workers
    assert not (directory / "counter_999999.db").exists(), "the directory was not emptied"
    # Ready means one worker answers; wait until the second has started its app too.
    _wait_for(lambda: value(_get(port, "/metrics", token)[1], "lupa_workers") == 2)
    for _ in range(REQUESTS):
        assert _get(port, "/health/live")[0] == 200
    # Each worker hands its counts to the shared files about once a second (buffered):
    # wait for them, then every scrape must agree.
    _wait_for(lambda: _live_total(port, token) == REQUESTS)
    totals, workers = set(), set()
    for _ in range(SCRAPES):
        status, text = _get(port, "/metrics", token)
        assert status == 200
        totals.add(value(text, "lupa_http_requests_total", **LIVE))
        workers.add(value(text, "lupa_workers"))
        started = samples(text)["lupa_worker_start_time_seconds"]
        assert len({labels["pid"] for labels, when in started if when > 0}) == 2
    assert totals == {REQUESTS}
    assert workers == {2}
