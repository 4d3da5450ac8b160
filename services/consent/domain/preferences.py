"""A subject's contact preferences: the document, its defaults, and merging a patch into it.

The document is plain JSON (stored as jsonb). A patch follows JSON merge-patch (RFC 7396) on
the known fields: an absent field stays as it is, an object merges, a list or scalar replaces,
and ``null`` clears a field that may be empty (language, quiet hours, pause, a purpose's topic
list). Fields that always have a value (a channel's switch and frequency, the global opt-out)
refuse ``null`` so nothing is reset by accident.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.consent.domain.vocabulary import CHANNELS, LOCALES, PURPOSE_KEY, TOPIC_SLUG
from shared.errors import Forbidden, InvalidInput

FREQUENCIES: tuple[str, ...] = ("immediately", "daily", "weekly", "monthly")
FIELDS = frozenset(
    {"channels", "topics", "language", "quiet_hours", "paused_until", "marketing_opt_out"}
)
CHANNEL_FIELDS = frozenset({"enabled", "frequency"})
QUIET_HOURS_FIELDS = ("start", "end", "timezone")
# Coming back to marketing after a global opt-out is an affirmative act by the person or an admin.
RESUME_MARKETING_ROLES = frozenset({"admin", "portal"})
MAX_TOPICS_PER_PURPOSE = 100
MAX_TOPIC_PURPOSES = 100
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# "Until further notice" is a pause a person may want, so the bound is generous; it keeps the
# instant a date that UTC, the database and every client can still represent and compare.
MAX_PAUSE_YEARS = 100
MAX_PAUSE = timedelta(days=365 * MAX_PAUSE_YEARS)

# JSON objects by design: the document is stored as jsonb, a patch is RFC 7396 merge-patch JSON.
# The functions here check their shape instead of a schema type.
Document = dict[str, Any]
MergePatch = dict[str, Any]


def default_document() -> Document:
    """What a subject who never chose anything gets: every channel on, as often as sent."""
    return {
        "channels": {ch: {"enabled": True, "frequency": "immediately"} for ch in CHANNELS},
        "topics": {},
        "language": None,
        "quiet_hours": None,
        "paused_until": None,
        "marketing_opt_out": False,
    }


def from_stored(stored: Document | None) -> Document:
    """The stored document laid over the defaults, so fields added later read as their default."""
    doc = default_document()
    if not stored:
        return doc
    for key in FIELDS - {"channels"}:
        if key in stored:
            doc[key] = copy.deepcopy(stored[key])
    for ch, settings in (stored.get("channels") or {}).items():
        if ch in doc["channels"]:
            doc["channels"][ch].update(settings)
    return doc


def apply_patch(current: Document, patch: Any, *, now: datetime, role: str) -> Document:
    """The document after ``patch``; raises ``InvalidInput`` (nothing applied) on any bad value."""
    if not isinstance(patch, dict):
        raise InvalidInput("The body must be a JSON object.")
    _refuse_unknown(patch, FIELDS, "")
    doc = copy.deepcopy(current)
    if "channels" in patch:
        doc["channels"] = _merge_channels(doc["channels"], patch["channels"])
    if "topics" in patch:
        doc["topics"] = _merge_topics(doc["topics"], patch["topics"])
    if "language" in patch:
        doc["language"] = _language(patch["language"])
    if "quiet_hours" in patch:
        doc["quiet_hours"] = _merge_quiet_hours(doc["quiet_hours"], patch["quiet_hours"])
    if "paused_until" in patch:
        doc["paused_until"] = _paused_until(patch["paused_until"], now)
    if "marketing_opt_out" in patch:
        doc["marketing_opt_out"] = _marketing_opt_out(current, patch["marketing_opt_out"], role)
    return doc


def _refuse_unknown(
    obj: dict[str, Any], known: frozenset[str] | tuple[str, ...], prefix: str
) -> None:
    if set(obj) - set(known):
        # The object is named, not the unknown member: member names are client input too.
        where = prefix.removesuffix(".") or "body"
        raise InvalidInput(
            f"{where} holds a member it does not know; see the documented fields.",
            field=where,
        )


def _merge_channels(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise InvalidInput("channels must be an object keyed by channel.", field="channels")
    _refuse_unknown(patch, CHANNELS, "channels.")
    merged = copy.deepcopy(current)
    for ch, settings in patch.items():
        field = f"channels.{ch}"
        if not isinstance(settings, dict):
            raise InvalidInput(
                f"{field} must be an object with enabled and/or frequency.", field=field
            )
        _refuse_unknown(settings, CHANNEL_FIELDS, field + ".")
        if "enabled" in settings:
            if not isinstance(settings["enabled"], bool):
                raise InvalidInput(
                    f"{field}.enabled must be true or false.", field=field + ".enabled"
                )
            merged[ch]["enabled"] = settings["enabled"]
        if "frequency" in settings:
            if settings["frequency"] not in FREQUENCIES:
                raise InvalidInput(
                    f"{field}.frequency must be one of {', '.join(FREQUENCIES)}.",
                    field=field + ".frequency",
                )
            merged[ch]["frequency"] = settings["frequency"]
    return merged


def _merge_topics(current: dict[str, list[str]], patch: Any) -> dict[str, list[str]]:
    """Per purpose: a list replaces that purpose's topics, ``null`` drops the choice."""
    if patch is None:
        return {}
    if not isinstance(patch, dict):
        raise InvalidInput(
            "topics must be an object: purpose key -> list of topic slugs.", field="topics"
        )
    merged = dict(current)
    for purpose, slugs in patch.items():
        if not isinstance(purpose, str) or not PURPOSE_KEY.match(purpose):
            raise InvalidInput("A topics key is not a valid purpose key.", field="topics")
        if slugs is None:
            merged.pop(purpose, None)
            continue
        merged[purpose] = _topic_list(slugs)
    if len(merged) > MAX_TOPIC_PURPOSES:
        raise InvalidInput(
            f"At most {MAX_TOPIC_PURPOSES} purposes may carry topics.", field="topics"
        )
    return merged


def _topic_list(slugs: Any) -> list[str]:
    # ``topics`` is named, not ``topics.<key>``: the key is a submitted value.
    field = "topics"
    if not isinstance(slugs, list) or not all(
        isinstance(s, str) and TOPIC_SLUG.match(s) for s in slugs
    ):
        raise InvalidInput(
            "Each topics value must be a list of topic slugs (a-z, 0-9, '-', '_') or null.",
            field=field,
        )
    if len(slugs) > MAX_TOPICS_PER_PURPOSE:
        raise InvalidInput(
            f"A topics list may hold at most {MAX_TOPICS_PER_PURPOSE} topics.", field=field
        )
    return sorted(set(slugs))


def _language(value: Any) -> str | None:
    if value is not None and value not in LOCALES:
        raise InvalidInput(
            f"language must be one of {', '.join(LOCALES)} or null.", field="language"
        )
    return value  # type: ignore[no-any-return]


def _merge_quiet_hours(current: dict[str, str] | None, patch: Any) -> dict[str, str] | None:
    if patch is None:
        return None
    if not isinstance(patch, dict):
        raise InvalidInput(
            "quiet_hours must be an object with start, end and timezone, or null.",
            field="quiet_hours",
        )
    _refuse_unknown(patch, QUIET_HOURS_FIELDS, "quiet_hours.")
    merged = {**(current or {}), **patch}
    missing = [f for f in QUIET_HOURS_FIELDS if merged.get(f) is None]
    if missing:
        raise InvalidInput(
            f"quiet_hours needs {', '.join(missing)}.", field=f"quiet_hours.{missing[0]}"
        )
    for name in ("start", "end"):
        if not isinstance(merged[name], str) or not CLOCK.match(merged[name]):
            raise InvalidInput(
                f"quiet_hours.{name} must be a time HH:MM (00:00-23:59).",
                field=f"quiet_hours.{name}",
            )
    if merged["start"] == merged["end"]:
        raise InvalidInput("quiet_hours start and end must differ.", field="quiet_hours")
    merged["timezone"] = _timezone(merged["timezone"])
    return merged


def _timezone(value: Any) -> str:
    """A real IANA zone name; anything else (including paths and offsets) is refused."""
    field = "quiet_hours.timezone"
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidInput(
            "quiet_hours.timezone must be an IANA time zone, e.g. Europe/Helsinki.", field=field
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            "quiet_hours.timezone is not a known IANA time zone.", field=field
        ) from None
    return value


def _paused_until(value: Any, now: datetime) -> str | None:
    """A future instant with an offset, kept as UTC ISO text; ``null`` resumes at once."""
    if value is None:
        return None
    field = "paused_until"
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise InvalidInput(
            "paused_until must be an ISO 8601 instant with an offset, or null.", field=field
        )
    if instant <= now:
        raise InvalidInput("paused_until must be in the future.", field=field)
    if instant - now > MAX_PAUSE:
        raise InvalidInput(
            f"paused_until may be at most {MAX_PAUSE_YEARS} years ahead.", field=field
        )
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _marketing_opt_out(current: Document, value: Any, role: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("marketing_opt_out must be true or false.", field="marketing_opt_out")
    if current["marketing_opt_out"] and not value and role not in RESUME_MARKETING_ROLES:
        raise Forbidden("Only the person (portal) or an admin may end a marketing opt-out.")
    return value


def paused_at(doc: Document, now: datetime) -> bool:
    """Whether sending is paused at ``now`` (computed at read time; no job resumes a pause)."""
    until = doc.get("paused_until")
    return until is not None and datetime.fromisoformat(until) > now


def etag(version: int) -> str:
    """The strong entity tag of a stored version; the defaults are version 0."""
    return f'"{version}"'


def if_match_allows(header: str, version: int) -> bool:
    """RFC 9110 If-Match with strong comparison: ``*`` or a listed tag equal to the version's."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag(version) in tags
