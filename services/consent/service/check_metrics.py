"""Counts of check decisions, by whether they allowed contact and why not.

The check path is the hot path: each distinct decision shape (allowed, reasons) resolves its
labelled children once and keeps them, buffered (``shared.metrics.buffered``), so counting a
check is a dict lookup and an addition or two; a batch counts each distinct decision once,
with ``inc(n)``.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from operator import countOf, itemgetter

from prometheus_client import Counter, Histogram

from services.consent.domain.check import CheckDecision
from shared.metrics.buffered import BufferedCounter, BufferedHistogram
from shared.metrics.instruments import LOCAL_REGISTRY

CHECK_DECISIONS = Counter(
    "lupa_check_decisions",
    "Check answers, by endpoint (single, batch, audience) and allowed (true/false).",
    ("endpoint", "allowed"),
    registry=LOCAL_REGISTRY,
)
CHECK_REASONS = Counter(
    "lupa_check_decision_reasons",
    "Check answers by reason code: a no with several reasons counts once under each; an "
    'answer without a reason counts under reason="none".',
    ("endpoint", "allowed", "reason"),
    registry=LOCAL_REGISTRY,
)
CHECK_GATHERED = Histogram(
    "lupa_check_gathered_size",
    "Single checks read together in one statement (gathered while earlier ones ran).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=LOCAL_REGISTRY,
)
NO_REASON = "none"
_Children = tuple[BufferedCounter, ...]


class DecisionCounts:
    """The decision counters of one endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._children: dict[tuple[bool, tuple[str, ...]], _Children] = {}

    def count(self, decision: CheckDecision, n: int = 1) -> None:
        key = (decision.allowed, decision.reasons)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._resolve(*key)
        for child in children:
            child.inc(n)

    def count_batch(
        self, answers: Sequence[tuple[CheckDecision, object]], distinct: Set[CheckDecision]
    ) -> None:
        """A batch's answers, whose decisions are among the few ``distinct`` ones: each is
        counted with one ``inc(n)``, ``n`` tallied by C loops (``countOf`` over the list),
        not a Python loop over 10,000 subjects."""
        decisions = list(map(itemgetter(0), answers))
        for decision in distinct:
            self.count(decision, countOf(decisions, decision))

    def _resolve(self, allowed: bool, reasons: Sequence[str]) -> _Children:
        flag = "true" if allowed else "false"
        return (
            BufferedCounter(CHECK_DECISIONS.labels(self.endpoint, flag)),
            *(
                BufferedCounter(CHECK_REASONS.labels(self.endpoint, flag, r))
                for r in reasons or (NO_REASON,)
            ),
        )


SINGLE = DecisionCounts("single")
BATCH = DecisionCounts("batch")
AUDIENCE = DecisionCounts("audience")
GATHERED_SIZES = BufferedHistogram(CHECK_GATHERED)
