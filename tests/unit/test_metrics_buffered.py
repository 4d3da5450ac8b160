"""Buffered counts, once flushed, expose exactly what prometheus-client's own calls would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _exposition
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics.buffered import BufferedCounter, BufferedHistogram
from shared.metrics.instruments import LATENCY_BUCKETS

AMOUNTS = (0.0004, 0.001, 0.0011, 0.003, 0.05, 0.25, 0.2500001, 9.9, 10.0, 42.0, 0.0)


def generate_latest(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    """The samples as Prometheus reads them, without the ``_created`` times of day."""
    text = _exposition(registry).decode()
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    ]


def pair() -> tuple[CollectorRegistry, CollectorRegistry]:
    return CollectorRegistry(), CollectorRegistry()


def test_a_flushed_histogram_matches_one_observed_directly():
    direct_registry, buffered_registry = pair()
    direct = Histogram(
        "t_seconds", "t", ["route"], buckets=LATENCY_BUCKETS, registry=direct_registry
    )
    via = Histogram(
        "t_seconds", "t", ["route"], buckets=LATENCY_BUCKETS, registry=buffered_registry
    )
    buffered = BufferedHistogram(via.labels("/x"))
    for amount in AMOUNTS:
        direct.labels("/x").observe(amount)
        buffered.observe(amount)
    assert generate_latest(buffered_registry) != generate_latest(direct_registry)  # not yet
    buffered.flush()
    assert generate_latest(buffered_registry) == generate_latest(direct_registry)
    buffered.flush()  # nothing pending: nothing added twice
    assert generate_latest(buffered_registry) == generate_latest(direct_registry)


def test_a_flushed_counter_matches_one_incremented_directly():
    direct_registry, buffered_registry = pair()
    direct = Counter("c", "c", registry=direct_registry)
    buffered = BufferedCounter(Counter("c", "c", registry=buffered_registry))
    for amount in (1, 1, 5, 1):
        direct.inc(amount)
        buffered.inc(amount)
    buffered.flush()
    buffered.flush()
    assert generate_latest(buffered_registry) == generate_latest(direct_registry)
