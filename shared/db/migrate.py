"""Apply Alembic migrations programmatically (used by ``lupa migrate``, ``lupa run`` and tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


KERNEL_VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def alembic_config(database_url: str, version_locations: Sequence[Path] = ()) -> Config:
    """The kernel's migrations (audit outbox, idempotency) plus each service's
    ``version_locations``, as the composition root lists them."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    locations = [KERNEL_VERSIONS, *version_locations]
    config.set_main_option("version_locations", " ".join(str(p) for p in locations))
    return config


def upgrade(
    database_url: str, version_locations: Sequence[Path] = (), target: str = "heads"
) -> None:
    """``alembic upgrade heads`` (or ``target``) over the kernel's and the given migrations, in
    a thread of its own so it works inside a running loop."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url, version_locations), target)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="alembic-upgrade")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
