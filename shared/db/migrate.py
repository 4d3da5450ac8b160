"""Apply Alembic migrations programmatically (used by ``lupa migrate``, ``lupa run`` and tests)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, target: str = "heads") -> None:
    """``alembic upgrade heads`` (or ``target``), in a thread of its own so it works inside a
    running loop."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url), target)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="alembic-upgrade")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
