"""Which PostgreSQL a command talks to: ``DATABASE_URL``, or the embedded one under ``.lupa/pg``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from shared.db.embedded import ensure_database, socket_dsn, start_embedded, stop_embedded
from shared.settings import lupa_home

EMBEDDED_DATABASE = "lupa"


@contextmanager
def database_url() -> Iterator[str]:
    """Yield a DSN; an embedded server started here is stopped on exit (unless others use it)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = start_embedded(lupa_home() / "pg")
    try:
        ensure_database(server, EMBEDDED_DATABASE)
        yield socket_dsn(server, EMBEDDED_DATABASE)
    finally:
        stop_embedded(server)
