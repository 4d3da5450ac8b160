"""Counts of optimistic consent writes by outcome, and the sizes of their batches.

An operator reads from these how much of the write load the batches carry (a rising share of
``stale`` means writers of the same subjects race, each costing a second, locked, write) and
how large batches are under the load of the moment. Buffered like every hot-path metric
(``shared.metrics.buffered``): counting is an addition.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.metrics.buffered import BufferedCounter, BufferedHistogram
from shared.metrics.instruments import LOCAL_REGISTRY

WRITE_OUTCOMES = Counter(
    "lupa_consent_optimistic_writes",
    "Plain consent writes tried optimistically, by outcome: written; refused (answered with a "
    "problem); stale (the read went stale, redone under the lock); batch_refused (the "
    "database refused the batch's statement, redone under the lock); key_in_use (its "
    "Idempotency-Key was held already: answered from the key by the locked path); error (the "
    "database could not be reached).",
    ("outcome",),
    registry=LOCAL_REGISTRY,
)
BATCH_SIZES = Histogram(
    "lupa_consent_write_batch_size",
    "Optimistic consent writes sent together in one batch.",
    buckets=(1, 2, 4, 8, 16, 32),
    registry=LOCAL_REGISTRY,
)
OUTCOMES = ("written", "refused", "stale", "batch_refused", "key_in_use", "error")


class WriteCounts:
    """The buffered children, resolved once per process."""

    def __init__(self) -> None:
        self.outcomes = {name: BufferedCounter(WRITE_OUTCOMES.labels(name)) for name in OUTCOMES}
        self.sizes = BufferedHistogram(BATCH_SIZES)

    def batch(self, size: int) -> None:
        self.sizes.observe(size)

    def outcome(self, name: str, n: int = 1) -> None:
        self.outcomes[name].inc(n)


WRITES = WriteCounts()
