"""Reading a scrape the way Prometheus does: prometheus-client's own text parser judges it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)] of a scrape (raises if the text does not parse)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(v for found, v in samples(text).get(name, []) if _has(found, labels))


def _has(found: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(found.get(k) == v for k, v in wanted.items())
