"""The deployment's database: where it is, and its schema from every registered service."""

from __future__ import annotations

from lupa import registry
from shared.db import migrate
from shared.db.location import Database, database, database_url

__all__ = ["Database", "database", "database_url", "upgrade"]


def upgrade(url: str, target: str = "heads") -> None:
    """``alembic upgrade heads`` over the kernel's and every registered service's migrations."""
    migrate.upgrade(url, registry.migration_locations(), target)
