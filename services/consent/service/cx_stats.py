"""The CX dashboard's figures: what people give and take back, why, and how DSAR requests
fare. Everything is counts except a small sample of the free text people wrote when they
withdrew or asked for less, opened with each subject's own key (an erased subject's key is
gone, so their text is skipped, never an error)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.consent.db import cx_stats as repo
from services.consent.service.unsubscribe import SOURCE as ONE_CLICK_SOURCE
from services.consent.service.vault import SubjectVault
from shared.auth.tokens import issue_access_token
from shared.keys import Keyring

PERIODS = (4, 12, 26)  # weeks the dashboard offers
DEFAULT_WEEKS = 12
EXPIRY_HORIZON = timedelta(days=30)
SAMPLE_SIZE = 10
# The field name the preference centre seals feedback text under (service/feedback.py).
FEEDBACK_TEXT_FIELD = "feedback_text"
DSAR_TOKEN_TTL_S = 60
DSAR_TIMEOUT_S = 2.0

log = structlog.get_logger("lupa.cx")


@dataclass(frozen=True)
class WeekTotal:
    week: datetime
    grants: int
    withdrawals: int


@dataclass(frozen=True)
class TextSample:
    reason: str | None
    kind: str
    created_at: datetime
    text: str


@dataclass(frozen=True)
class Dashboard:
    weeks: int
    since: datetime
    totals: list[WeekTotal]  # one per week of the period, zeros included
    by_purpose: list[repo.WeekCount]
    reasons: dict[str, int]
    kinds: dict[str, int]
    preference_changes: int
    one_click: int
    opt_in_asked: int
    opt_in_confirmed: int
    expiring: dict[str, int]
    samples: list[TextSample]

    @property
    def grants(self) -> int:
        return sum(t.grants for t in self.totals)

    @property
    def withdrawals(self) -> int:
        return sum(t.withdrawals for t in self.totals)

    @property
    def opt_in_rate(self) -> int | None:
        """Confirmed per asked, in whole per cent (None when nobody was asked)."""
        if not self.opt_in_asked:
            return None
        return round(100 * self.opt_in_confirmed / self.opt_in_asked)

    @property
    def send_less(self) -> int:
        return self.kinds.get("less", 0) + self.kinds.get("pause", 0)

    @property
    def full_stops(self) -> int:
        return self.kinds.get("stop_all", 0)


def week_start(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weeks_of(since: datetime, now: datetime) -> list[datetime]:
    first, last = week_start(since), week_start(now)
    count = (last - first).days // 7 + 1
    return [first + timedelta(weeks=i) for i in range(count)]


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def totals_per_week(rows: list[repo.WeekCount], since: datetime, now: datetime) -> list[WeekTotal]:
    grants: dict[datetime, int] = defaultdict(int)
    withdrawals: dict[datetime, int] = defaultdict(int)
    for row in rows:
        grants[_as_utc(row.week)] += row.grants
        withdrawals[_as_utc(row.week)] += row.withdrawals
    return [WeekTotal(w, grants[w], withdrawals[w]) for w in weeks_of(since, now)]


class CxStats:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def dashboard(self, weeks: int, now: datetime | None = None) -> Dashboard:
        now = now or datetime.now(UTC)
        since = week_start(now - timedelta(weeks=weeks - 1))
        rows = await repo.weekly_changes(self.session, since)
        asked, confirmed = await repo.opt_in_counts(self.session, since)
        return Dashboard(
            weeks=weeks,
            since=since,
            totals=totals_per_week(rows, since, now),
            by_purpose=rows,
            reasons=await repo.reason_counts(self.session, since),
            kinds=await repo.kind_counts(self.session, since),
            preference_changes=await repo.preference_changes(self.session, since),
            one_click=await repo.events_from_source(self.session, since, ONE_CLICK_SOURCE),
            opt_in_asked=asked,
            opt_in_confirmed=confirmed,
            expiring=await repo.expiring(self.session, now, now + EXPIRY_HORIZON),
            samples=await self.samples(since),
        )

    async def samples(self, since: datetime) -> list[TextSample]:
        vault = SubjectVault(self.session, self.keyring)
        opened = []
        for row in await repo.text_samples(self.session, since, SAMPLE_SIZE):
            try:
                dek = vault.open_key(row.subject_id, row.key)
                text = vault.open_field(dek, row.subject_id, FEEDBACK_TEXT_FIELD, row.sealed)
            except Exception:
                log.warning("feedback_text_unreadable", subject=str(row.subject_id))
                continue
            if text:
                opened.append(TextSample(row.reason, row.kind, row.created_at, text))
        return opened


async def fetch_dsar_stats(
    dsar_url: str, keyring: Keyring, weeks: int, timeout_s: float = DSAR_TIMEOUT_S
) -> dict[str, Any] | None:
    """The DSAR service's ``/v1/stats`` with a minute-long cx token; None when it cannot be
    reached or answers anything but 200 (the dashboard then says "not available")."""
    token = issue_access_token(keyring, "cx", None, DSAR_TOKEN_TTL_S)
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(
                f"{dsar_url.rstrip('/')}/v1/stats",
                params={"weeks": weeks},
                headers={"Authorization": f"Bearer {token}"},
            )
        if response.status_code != 200:
            log.warning("dsar_stats_refused", status=response.status_code)
            return None
        body = response.json()
        return body if isinstance(body, dict) else None
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("dsar_stats_unavailable", error=type(exc).__name__)
        return None
