"""A PostgreSQL that refuses connections for lack of resources ("sorry, too many clients
already", SQLSTATE 53300) is unavailable, not an internal error: the client gets the documented
503 and retries (tests/fuzz met this as a 500 on a busy shared server)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from shared.problems import _is_database_unavailable


def _refused(error: Exception) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("connect", None, error, connection_invalidated=False)


def test_too_many_clients_is_unavailable() -> None:
    refused = asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")
    assert _is_database_unavailable(_refused(refused))


def test_a_query_error_is_still_internal() -> None:
    broken = asyncpg.exceptions.UndefinedColumnError("column does not exist")
    assert not _is_database_unavailable(_refused(broken))
