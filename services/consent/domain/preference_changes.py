"""What a preference change did: which fields moved, and whether it means "send me less".

The CX team counts "send me less" (lower frequency, a pause, fewer topics) apart from
unsubscribes, so the change is classified here, beside the document it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.consent.domain.preferences import FREQUENCIES, Document, paused_at

# Values that could hint at where a person lives stay out of audit data; the field name is kept.
UNAUDITED_VALUES = frozenset({"quiet_hours"})


@dataclass(frozen=True)
class PreferenceChange:
    """The fields that changed (dotted paths), their new non-personal values, and the verdicts."""

    fields: list[str]
    values: dict[str, Any]  # dotted path -> new JSON value, as the audit event carries it
    send_less: list[str] = field(default_factory=list)
    marketing_resumed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.fields)


def describe_change(old: Document, new: Document, now: datetime) -> PreferenceChange:
    """Compare two documents; ``now`` decides whether a pause is a new one."""
    before, after = _flatten(old), _flatten(new)
    values = {
        path: value for path, value in after.items() if path not in before or before[path] != value
    }
    values.update({path: None for path in before if path not in after})
    fields = sorted(values)
    audited = {path: v for path, v in values.items() if path.split(".")[0] not in UNAUDITED_VALUES}
    resumed = old["marketing_opt_out"] and not new["marketing_opt_out"]
    return PreferenceChange(
        fields=fields,
        values=audited,
        send_less=_send_less(old, new, now),
        marketing_resumed=resumed,
    )


def _flatten(doc: Document) -> dict[str, Any]:
    """Dotted paths to leaf values; a purpose's topic list and quiet hours count as one value."""
    flat: dict[str, Any] = {}
    for ch, settings in doc["channels"].items():
        for name, value in settings.items():
            flat[f"channels.{ch}.{name}"] = value
    for purpose, slugs in doc["topics"].items():
        flat[f"topics.{purpose}"] = slugs
    for name in ("language", "quiet_hours", "paused_until", "marketing_opt_out"):
        flat[name] = doc[name]
    return flat


def _send_less(old: Document, new: Document, now: datetime) -> list[str]:
    reasons = []
    if any(_rank(new, ch) > _rank(old, ch) for ch in new["channels"]):
        reasons.append("frequency_reduced")
    if paused_at(new, now) and (
        not paused_at(old, now) or new["paused_until"] > old["paused_until"]
    ):
        reasons.append("paused")
    if _topics_reduced(old["topics"], new["topics"]):
        reasons.append("topics_reduced")
    return reasons


def _topics_reduced(old: dict[str, list[str]], new: dict[str, list[str]]) -> bool:
    """A purpose without a list gets every topic, so a new list, or a shorter one, narrows it."""
    return any(
        purpose not in old or set(old[purpose]) - set(slugs) for purpose, slugs in new.items()
    )


def _rank(doc: Document, channel: str) -> int:
    return FREQUENCIES.index(doc["channels"][channel]["frequency"])
