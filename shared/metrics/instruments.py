"""The metrics every Lupa service process records, and their children resolved once.

Each metric lives in ``LOCAL_REGISTRY``, which is what a single process exposes. Under
``PROMETHEUS_MULTIPROC_DIR`` every process also writes its values to that directory, and the
scrape reads them all from there (``shared.metrics.exposition``): which worker answers the
scrape does not matter.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics.buffered import BufferedCounter, BufferedHistogram

LOCAL_REGISTRY = CollectorRegistry(auto_describe=True)
# From a fast check (~1 ms) to a slow export; Prometheus' default tops out too early for neither.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method string is "other": a label value a client can choose must stay bounded.
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))

HTTP_REQUESTS = Counter(
    "lupa_http_requests",
    "HTTP requests answered, by route template (never the raw path), method and status code.",
    ("route", "method", "status"),
    registry=LOCAL_REGISTRY,
)
HTTP_DURATION = Histogram(
    "lupa_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template and method.",
    ("route", "method"),
    buckets=LATENCY_BUCKETS,
    registry=LOCAL_REGISTRY,
)
WORKERS = Gauge(
    "lupa_workers",
    "Worker processes serving this service (live processes only).",
    registry=LOCAL_REGISTRY,
    multiprocess_mode="livesum",
)
WORKER_STARTED = Gauge(
    "lupa_worker_start_time_seconds",
    "When each live worker process started, in Unix seconds (label pid).",
    registry=LOCAL_REGISTRY,
    multiprocess_mode="liveall",
)


def mark_worker_started() -> None:
    """Count this process among the live workers (its live-gauge files go when it ends)."""
    WORKERS.set(1)
    WORKER_STARTED.set(time.time())


class RequestMetrics:
    """Records one answered request; the labelled children are looked up in a dict, built
    once per (route, method, status), so a request costs two buffered increments
    (``shared.metrics.buffered``) and no label work."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[BufferedCounter, BufferedHistogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._resolve(route, method, status)
        count, duration = children
        count.inc()
        duration.observe(seconds)

    @staticmethod
    def _resolve(route: str, method: str, status: int) -> tuple[BufferedCounter, BufferedHistogram]:
        # Several buffers may feed one child (one histogram per status here): each flushes
        # only what it holds.
        method = method if method in KNOWN_METHODS else "other"
        return (
            BufferedCounter(HTTP_REQUESTS.labels(route, method, str(status))),
            BufferedHistogram(HTTP_DURATION.labels(route, method)),
        )


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
