"""When a sender may contact a subject: the one decision function behind every check.

Pure: the database layer gathers ``CheckFacts`` in one statement, this decides. Single check,
batch check and the audience consistency tests all go through ``decide``. Every failing rule
adds its reason; an empty reason list is the only way to ``allowed: true``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from services.consent.domain.validity import expires_at

# Stable reason codes (docs/check-api.md lists them with their meaning).
UNKNOWN_SUBJECT = "unknown_subject"
ERASED = "erased"
UNKNOWN_PURPOSE = "unknown_purpose"
CHANNEL_NOT_IN_PURPOSE = "channel_not_in_purpose"
RESTRICTED = "restricted"
OBJECTED = "objected"
MARKETING_OPT_OUT = "marketing_opt_out"
NEVER_GIVEN = "never_given"
PENDING = "pending"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"
VERSION_NOT_ACCEPTED = "version_not_accepted"
CHANNEL_OFF = "channel_off"
PAUSED = "paused"
TOPIC_UNSUBSCRIBED = "topic_unsubscribed"
UNDER_AGE = "under_age"
AGE_UNKNOWN = "age_unknown"
UNAVAILABLE = "unavailable"

REASONS: tuple[str, ...] = (
    UNKNOWN_SUBJECT,
    ERASED,
    UNKNOWN_PURPOSE,
    CHANNEL_NOT_IN_PURPOSE,
    RESTRICTED,
    OBJECTED,
    MARKETING_OPT_OUT,
    NEVER_GIVEN,
    PENDING,
    WITHDRAWN,
    EXPIRED,
    VERSION_NOT_ACCEPTED,
    CHANNEL_OFF,
    PAUSED,
    TOPIC_UNSUBSCRIBED,
    UNDER_AGE,
    AGE_UNKNOWN,
    UNAVAILABLE,
)
# Bases that stand without consent; a recorded objection (or withdrawal) still stops them.
OBJECTABLE_BASES = frozenset({"legitimate_interest", "contract", "legal_obligation"})
DIGEST_FREQUENCIES = frozenset({"daily", "weekly", "monthly"})


@dataclass(frozen=True, slots=True)
class Purpose:
    """The purpose's terms a check needs."""

    legal_basis: str
    channels: tuple[str, ...]
    validity_days: int | None
    min_age: int | None
    current_version: int
    min_accepted_version: int
    sale_or_sharing: bool = False


class Consent(NamedTuple):
    """The projection entry for (subject, purpose, channel) and its last ledger event.

    A tuple, so the check's row decoder builds it straight from the stored JSON array.
    """

    state: str
    purpose_version: int
    granted_at: datetime | None
    event_id: uuid.UUID | None
    given_by: str


@dataclass(frozen=True, slots=True)
class Preferences:
    """The parts of the preference document that bear on one purpose, channel and topic."""

    channel_enabled: bool = True
    frequency: str = "immediately"
    topics: tuple[str, ...] | None = None  # None: no topic choice for this purpose (all topics)
    quiet_start: str | None = None
    quiet_end: str | None = None
    quiet_timezone: str | None = None
    paused_until: datetime | None = None
    marketing_opt_out: bool = False


@dataclass(frozen=True, slots=True)
class CheckFacts:
    """Everything stored about one (subject, purpose, channel); ``None`` where nothing is stored."""

    subject_known: bool
    erased: bool = False
    restricted: bool = False
    objected: bool = False
    purpose: Purpose | None = None
    consent: Consent | None = None
    preferences: Preferences | None = None
    age: int | None = None  # completed years, only when the purpose has a minimum age
    gpc_at: datetime | None = None  # the browser's last "do not sell or share" signal


class CheckDecision(NamedTuple):
    """The answer to one check; a tuple because a batch makes thousands of them."""

    allowed: bool
    reasons: tuple[str, ...]
    purpose_version: int | None
    basis: str | None
    evidence: uuid.UUID | None
    deliver_after: datetime | None


def unavailable() -> CheckDecision:
    """The answer when Lupa cannot know: never a yes."""
    return CheckDecision(False, (UNAVAILABLE,), None, None, None, None)


def decide(facts: CheckFacts, channel: str, topic: str | None, now: datetime) -> CheckDecision:
    """Allowed only when no rule fails; the least permissive reading wins where facts disagree."""
    if not facts.subject_known:
        reasons = [UNKNOWN_SUBJECT]
        if facts.purpose is None:
            reasons.append(UNKNOWN_PURPOSE)
        return CheckDecision(False, tuple(reasons), None, None, None, None)
    reasons = _subject_reasons(facts)
    purpose, consent = facts.purpose, facts.consent
    if purpose is None:
        reasons.append(UNKNOWN_PURPOSE)
    else:
        if channel not in purpose.channels:
            reasons.append(CHANNEL_NOT_IN_PURPOSE)
        reasons += _basis_reasons(purpose, consent, now)
        if gpc_objects(purpose, consent, facts.gpc_at) and OBJECTED not in reasons:
            reasons.append(OBJECTED)
        reasons += _age_reasons(purpose, consent, facts.age)
    prefs = facts.preferences or Preferences()
    reasons += _preference_reasons(prefs, topic, now)
    version = consent.purpose_version if consent is not None else None
    basis = purpose.legal_basis if purpose is not None else None
    evidence = consent.event_id if consent is not None else None
    if reasons:
        return CheckDecision(False, tuple(reasons), version, basis, evidence, None)
    return CheckDecision(True, (), version, basis, evidence, deliver_after(prefs, now))


def _subject_reasons(facts: CheckFacts) -> list[str]:
    reasons = []
    if facts.erased:
        reasons.append(ERASED)
    if facts.restricted:
        reasons.append(RESTRICTED)
    if facts.objected:
        reasons.append(OBJECTED)
    return reasons


def _basis_reasons(purpose: Purpose, consent: Consent | None, now: datetime) -> list[str]:
    """Consent needs a live, confirmed grant to an accepted version; others need no objection."""
    if purpose.legal_basis in OBJECTABLE_BASES:
        if consent is not None and consent.state in ("objected", "withdrawn"):
            return [OBJECTED]
        return []
    if purpose.legal_basis != "consent":
        return [UNKNOWN_PURPOSE]  # a basis this code does not know is never a yes
    if consent is None:
        return [NEVER_GIVEN]
    if consent.state != "granted":
        return [_STATE_REASONS.get(consent.state, NEVER_GIVEN)]
    reasons = []
    if expired(purpose, consent, now):
        reasons.append(EXPIRED)
    if consent.purpose_version < purpose.min_accepted_version:
        reasons.append(VERSION_NOT_ACCEPTED)
    return reasons


def expired(purpose: Purpose, consent: Consent, now: datetime) -> bool:
    """Past ``expires_at``; a grant without a grant time cannot show it is live, so it is not."""
    if purpose.validity_days is None:
        return False
    granted_at = consent.granted_at
    return granted_at is None or expires_at(granted_at, purpose.validity_days) < now


def gpc_objects(purpose: Purpose, consent: Consent | None, gpc_at: datetime | None) -> bool:
    """A GPC signal objects to sale/sharing unless a grant was given after it (Art. 21(5)).

    It covers purposes and channels that became sale/sharing after the signal too; coming back
    takes a new affirmative grant.
    """
    if not purpose.sale_or_sharing or gpc_at is None:
        return False
    if consent is None or consent.state != "granted" or consent.granted_at is None:
        return True
    return consent.granted_at <= gpc_at


def consent_case(
    purpose: Purpose | None, consent: Consent | None, gpc_at: datetime | None, now: datetime
) -> tuple[object, ...]:
    """What the rules read of a consent (and the GPC signal) at ``now``.

    ``decide`` reads the grant time only through ``expired`` and ``gpc_objects``, and the event
    id only as evidence: subjects whose cases and other facts are equal get the same decision,
    so a batch decides each distinct case once (tests compare that with ``decide``).
    """
    # The cheap tests first: this runs once per subject of a batch.
    gpc = gpc_at is not None and purpose is not None and gpc_objects(purpose, consent, gpc_at)
    if consent is None:
        return (gpc,)
    lapsed = (
        purpose is not None and purpose.validity_days is not None and expired(purpose, consent, now)
    )
    return (consent.state, consent.purpose_version, consent.given_by, lapsed, gpc)


_STATE_REASONS = {
    "pending": PENDING,
    "withdrawn": WITHDRAWN,
    "expired": EXPIRED,
    "objected": OBJECTED,
}


def _age_reasons(purpose: Purpose, consent: Consent | None, age: int | None) -> list[str]:
    """A minimum age is met by a known age, or by a guardian's consent (GDPR Art. 8)."""
    if purpose.min_age is None:
        return []
    if consent is not None and consent.given_by == "guardian":
        return []
    if age is None:
        return [AGE_UNKNOWN]
    return [UNDER_AGE] if age < purpose.min_age else []


def _preference_reasons(prefs: Preferences, topic: str | None, now: datetime) -> list[str]:
    reasons = []
    if prefs.marketing_opt_out:
        reasons.append(MARKETING_OPT_OUT)
    if not prefs.channel_enabled:
        reasons.append(CHANNEL_OFF)
    if prefs.paused_until is not None and prefs.paused_until > now:
        reasons.append(PAUSED)
    if topic is not None and prefs.topics is not None and topic not in prefs.topics:
        reasons.append(TOPIC_UNSUBSCRIBED)
    return reasons


def deliver_after(prefs: Preferences, now: datetime) -> datetime | None:
    """The earliest instant a message may go: the next digest slot, moved past quiet hours.

    Lupa does not see what was sent, so a frequency of daily/weekly/monthly is read as a digest
    slot: the start of the next day, week (Monday) or month in the subject's quiet-hours zone
    (UTC without one). ``None`` means "now".
    """
    zone = _zone(prefs.quiet_timezone)
    local = now.astimezone(zone)
    slot = _digest_slot(local, prefs.frequency)
    candidate = slot or local
    later = _after_quiet_hours(candidate, prefs)
    if later is not None:
        candidate = later
    if slot is None and later is None:
        return None
    return candidate.astimezone(UTC)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except Exception:
        return ZoneInfo("UTC")


def _digest_slot(local: datetime, frequency: str) -> datetime | None:
    if frequency not in DIGEST_FREQUENCIES:
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "daily":
        nxt = midnight + timedelta(days=1)
    elif frequency == "weekly":
        nxt = midnight + timedelta(days=7 - local.weekday())
    else:
        first = midnight.replace(day=1)
        nxt = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
    # Re-attach the zone so a DST change between now and the slot keeps wall-clock midnight.
    return nxt.replace(tzinfo=None).replace(tzinfo=local.tzinfo)


def _after_quiet_hours(local: datetime, prefs: Preferences) -> datetime | None:
    """The end of the quiet window ``local`` falls in, or ``None`` when it is outside one."""
    if not (prefs.quiet_start and prefs.quiet_end):
        return None
    start, end = time.fromisoformat(prefs.quiet_start), time.fromisoformat(prefs.quiet_end)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # the window wraps midnight, e.g. 21:00-08:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=local.tzinfo)
