"""Two service processes on one database: a withdrawal acknowledged by one is seen by the other."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.keys import Keyring
from tests.ledger_helpers import PURPOSE

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(database_url: str, keyring: Keyring, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "services.consent.app:create_app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    """Poll readiness (an event, not a sleep: each try is a real request)."""
    with httpx.Client(base_url=base, timeout=1.0) as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                if client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
    raise RuntimeError("service did not become ready")


@pytest.fixture
def two_services(database_url: str, keyring: Keyring) -> Iterator[tuple[str, str]]:
    ports = [free_port(), free_port()]
    procs = [start_service(database_url, keyring, p) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc in zip(bases, procs, strict=True):
            wait_ready(base, proc)
        yield bases[0], bases[1]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_withdrawal_acknowledged_by_one_replica_blocks_the_next_check_on_another(
    two_services, auth, new_id
):
    writer_base, reader_base = two_services
    key, ext = new_id("p"), new_id("cust")
    admin, marketing = auth("admin"), auth("marketing")
    params = {"subject": ext, "purpose": key, "channel": "email"}
    with httpx.Client(base_url=writer_base) as writer, httpx.Client(base_url=reader_base) as reader:
        assert writer.put(f"/v1/purposes/{key}", json=PURPOSE, headers=admin).status_code == 201
        assert (
            writer.put(f"/v1/subjects/{ext}", json={"locale": "fi"}, headers=admin).status_code
            == 201
        )
        for round_ in range(20):
            grant = writer.post(
                f"/v1/subjects/{ext}/consents",
                headers=admin,
                json={"purpose": key, "channel": "email", "action": "grant"},
            )
            assert grant.status_code == 201
            assert reader.get("/v1/check", params=params, headers=marketing).json()["allowed"]
            withdraw = writer.post(
                f"/v1/subjects/{ext}/consents",
                headers=admin,
                json={"purpose": key, "channel": "email", "action": "withdraw"},
            )
            assert withdraw.status_code == 201
            after = reader.get("/v1/check", params=params, headers=marketing).json()
            assert after["allowed"] is False, f"round {round_}: {after}"
            assert after["reasons"] == ["withdrawn"]
