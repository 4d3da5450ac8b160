"""The text a scrape gets: this process's metrics, or every worker's under multiprocess mode,
plus the gauges just read from PostgreSQL."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence

from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shared.metrics.instruments import LOCAL_REGISTRY, multiprocess_dir

_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


class Families(Collector):
    """Metric families already computed (the database's gauges of this scrape)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(families: Sequence[Metric]) -> bytes:
    """The Prometheus text format of everything this scrape reports."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        forget_dead_workers(path)
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        # One process: its own CPU, memory and descriptors are the service's.
        registry.register(LOCAL_REGISTRY)
        registry.register(PROCESS_COLLECTOR)
    registry.register(PLATFORM_COLLECTOR)
    registry.register(Families(families))
    return generate_latest(registry)


def forget_dead_workers(path: str) -> None:
    """Drop the live-gauge files of workers that are gone (killed, crashed, restarted by the
    server), so ``lupa_workers`` counts only live ones. Counters and histograms of a dead
    worker stay: what it counted happened."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def forget_this_worker() -> None:
    """At a worker's orderly shutdown: its live gauges end with it."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
