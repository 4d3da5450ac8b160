"""What a benchmark run stands on: an embedded PostgreSQL, fresh databases, server processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from lupa.database import upgrade
from lupa.server import DEFAULT_SERVER
from shared.db.embedded import ensure_database, socket_dsn, start_embedded, stop_embedded
from shared.keys import Keyring

REPO = Path(__file__).resolve().parents[1]
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))


# What a deployment on this machine (2 cores, 23 GiB RAM, SSD) would set instead of the stock
# 128 MB of shared_buffers; both the baselines and Lupa run on this one server. jit is off
# because compiling a 10,000-row batch plan costs more than it saves on index lookups.
SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "12GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "random_page_cost": "1.1",
    "jit": "off",
    "max_wal_size": "4GB",
    # Two server processes of two apps each hold a write pool and a check pool: the stock 100
    # connections run out with two workers ("too many clients" answers 503, counted as failures).
    "max_connections": "400",
}
STOCK = os.environ.get("BENCH_PG_STOCK") == "1"  # measure on PostgreSQL's defaults instead


@contextmanager
def postgres() -> Iterator[str]:
    """``BENCH_DATABASE_URL``'s server, or an embedded one under ``.lupa/bench-pg``."""
    if os.environ.get("BENCH_DATABASE_URL"):
        yield os.environ["BENCH_DATABASE_URL"]
        return
    datadir = REPO / ".lupa" / "bench-pg"
    server = start_embedded(datadir)
    try:
        if _configure(server):  # shared_buffers only changes with a restart
            stop_embedded(server)
            server = start_embedded(datadir)
        ensure_database(server, "postgres")
        yield socket_dsn(server, "postgres")
    finally:
        stop_embedded(server)


def _configure(server: Any) -> bool:
    """Apply ``SERVER_SETTINGS`` (or reset them); True when the server must restart."""
    if STOCK:
        script = "ALTER SYSTEM RESET ALL;"
    else:
        script = "".join(f"ALTER SYSTEM SET {k} = '{v}';\n" for k, v in SERVER_SETTINGS.items())
    server.psql(script + "SELECT pg_reload_conf();")
    pending: str = server.psql("SELECT count(*) FROM pg_settings WHERE pending_restart;")
    return pending.split()[2] != "0"


def server_settings_note() -> str:
    """One line for the results header: which PostgreSQL settings the run used."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return "PostgreSQL: `BENCH_DATABASE_URL`'s own settings."
    if STOCK:
        return "PostgreSQL: embedded, stock settings (shared_buffers 128MB)."
    listed = ", ".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items())
    return f"PostgreSQL: embedded, {listed} (`benchmarks/stack.py`)."


def with_database(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def fresh_database(server_dsn: str, name: str) -> str:
    """Drop and recreate ``name``, migrated to head; returns its DSN."""
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_dsn, name)
    await asyncio.to_thread(upgrade, url)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    factory: str,
    database_url: str,
    keyring: Keyring,
    server: str | None = None,
    workers: int | None = None,
) -> Iterator[tuple[int, int]]:
    """``factory`` served by ``lupa.server`` (``BENCH_SERVER``, else Lupa's default server) with
    ``BENCH_WORKERS`` workers (default 1) unless given; yields (port, pid).

    Every server of a run (baseline and Lupa) gets the same settings: server, workers, pool
    size, log level. With several workers ``pid`` is the supervisor's, so the audience memory
    figure is only meaningful with one.
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LUPA_KEYRING": keyring.to_json(),
        "LUPA_DB_POOL_SIZE": "20",
        "LUPA_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
    }
    server = server or os.environ.get("BENCH_SERVER") or DEFAULT_SERVER
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lupa.server",
            factory,
            "--port",
            str(port),
            "--server",
            server,
            "--workers",
            str(workers or WORKERS),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # see docs/operations.md "Server" (granian's stop)
            _kill_tree(proc.pid)
            proc.wait(timeout=5)


def _kill_tree(pid: int) -> None:
    for child in _children(pid):
        _kill_tree(child)
    with suppress(ProcessLookupError):
        os.kill(pid, 9)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listed:
            return [int(child) for child in listed.read().split()]
    except OSError:
        return []


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start listening")


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM), for the flat-memory check of the export."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
