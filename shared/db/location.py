"""Which PostgreSQL a command talks to: ``DATABASE_URL``, or the embedded one under ``.lupa/pg``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shared.db.embedded import ensure_database, socket_dsn, start_embedded, stop_embedded
from shared.settings import lupa_home

EMBEDDED_DATABASE = "lupa"


@dataclass(frozen=True)
class Database:
    """A DSN and, when it is the embedded one, the pgserver handle that can restart it."""

    url: str
    embedded: Any = None


@contextmanager
def database() -> Iterator[Database]:
    """Yield the database; an embedded server started here is stopped on exit (unless others
    use it)."""
    if os.environ.get("DATABASE_URL"):
        yield Database(os.environ["DATABASE_URL"])
        return
    server = start_embedded(lupa_home() / "pg")
    try:
        ensure_database(server, EMBEDDED_DATABASE)
        yield Database(socket_dsn(server, EMBEDDED_DATABASE), server)
    finally:
        stop_embedded(server)


@contextmanager
def database_url() -> Iterator[str]:
    """Yield a DSN; an embedded server started here is stopped on exit (unless others use it)."""
    with database() as db:
        yield db.url
