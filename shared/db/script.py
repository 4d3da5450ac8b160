"""Run a multi-statement SQL script inside an Alembic migration.

SQLAlchemy's asyncpg dialect prepares every statement, and a prepared statement holds one
command; asyncpg's own ``execute`` without arguments uses the simple protocol, which runs a
whole script (functions with ``;`` in their bodies included).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    await_only(driver_connection.execute(sql))
