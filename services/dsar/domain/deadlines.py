"""The statutory clock of a data-subject request (GDPR Art. 12(3)).

A request is answered "within one month of receipt", extendable "by two further months". Periods
in months follow the EU's rule for time limits (Regulation 1182/71, Art. 3(2)(c)): a period
ends at the end of the day in the last month that bears the same date as the day of receipt,
or — when that month is shorter — at the end of its last day. 31 January + 1 month ends on
28 February (29 in a leap year); 30 November + 3 months ends on 28/29 February.

Days are the controller's calendar days (Europe/Helsinki by default), so a request received at
00:30 Helsinki time on 1 March counts as received on 1 March even though it is still 28/29
February in UTC. Time spent waiting for the requester (identity, a question) is added on top.
Everything is returned as an aware UTC datetime.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CONTROLLER_ZONE = ZoneInfo("Europe/Helsinki")
BASE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2
DUE_SOON = timedelta(days=7)


def add_months(day: date, months: int) -> date:
    """The same date ``months`` later, or that month's last day when it has no such date."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date, zone: ZoneInfo = CONTROLLER_ZONE) -> datetime:
    """The last instant of ``day`` in ``zone`` (the start of the next day, less a microsecond),
    in UTC. Computed from the next midnight so that DST changes fall where they belong."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return (next_midnight - timedelta(microseconds=1)).astimezone(UTC)


def due_at(
    received_at: datetime,
    *,
    extended_months: int = 0,
    paused: timedelta = timedelta(0),
    zone: ZoneInfo = CONTROLLER_ZONE,
) -> datetime:
    """When the answer is due: the end of the day one month (plus any extension) after the day
    of receipt, moved by the time the clock stood still."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    if not 0 <= extended_months <= MAX_EXTENSION_MONTHS:
        raise ValueError("an extension is one or two further months")
    received_day = received_at.astimezone(zone).date()
    return end_of_day(add_months(received_day, BASE_MONTHS + extended_months), zone) + paused


def first_month_ends(received_at: datetime, zone: ZoneInfo = CONTROLLER_ZONE) -> datetime:
    """The end of the first month: an extension must be decided and told before it
    (Art. 12(3): "within one month of receipt of the request")."""
    return due_at(received_at, zone=zone)


def is_overdue(due: datetime, now: datetime) -> bool:
    return now > due


def is_due_soon(due: datetime, now: datetime) -> bool:
    return not is_overdue(due, now) and due - now <= DUE_SOON
