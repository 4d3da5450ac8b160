"""The directory where worker processes keep their metric values (prometheus-client's
multiprocess mode), made ready before the server forks its workers.

Nothing here imports ``prometheus_client``: it picks single- or multiprocess storage when it is
first imported, so the variable must be set before that.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import MutableMapping
from pathlib import Path

from shared.settings import lupa_home

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(service: str, env: MutableMapping[str, str] = os.environ) -> Path:
    """Use ``PROMETHEUS_MULTIPROC_DIR`` if set, else ``$LUPA_HOME/metrics/<service>``; empty it.

    Called once by the server's parent process before any worker starts: files left by a
    previous run would otherwise be summed into this run's counters.
    """
    chosen = env.get(MULTIPROC_ENV)
    path = Path(chosen) if chosen else lupa_home(env) / "metrics" / service
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    env[MULTIPROC_ENV] = str(path)
    _rechoose_value_storage()
    return path


def _rechoose_value_storage() -> None:
    """If prometheus-client was imported already, make metrics created from now on use files."""
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
