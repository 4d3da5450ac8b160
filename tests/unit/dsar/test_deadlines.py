"""The statutory clock: one month from the day of receipt by the EU rule for periods in
months, in the controller's calendar, plus paused time and the extension."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.dsar.domain.deadlines import add_months, due_at, first_month_ends, is_due_soon

HELSINKI = ZoneInfo("Europe/Helsinki")


def helsinki(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI)


def local_day(instant: datetime) -> tuple[int, int, int, int, int]:
    t = instant.astimezone(HELSINKI)
    return t.year, t.month, t.day, t.hour, t.minute


@pytest.mark.parametrize(
    ("received", "months", "due_day"),
    [
        ((2027, 1, 31), 1, (2027, 2, 28)),  # no 31 February: the month's last day
        ((2028, 1, 31), 1, (2028, 2, 29)),  # leap year
        ((2027, 1, 30), 1, (2027, 2, 28)),
        ((2027, 1, 28), 1, (2027, 2, 28)),  # the same date exists
        ((2027, 3, 31), 1, (2027, 4, 30)),
        ((2027, 12, 15), 1, (2028, 1, 15)),  # over the year's end
        ((2027, 11, 30), 3, (2028, 2, 29)),  # extended by two: three months in all
        ((2027, 10, 31), 2, (2027, 12, 31)),
        ((2027, 2, 28), 1, (2027, 3, 28)),  # from the end of a short month: the same date
    ],
)
def test_month_periods_end_on_the_same_date_or_the_months_last_day(received, months, due_day):
    when = helsinki(*received, 10, 15)
    due = due_at(when, extended_months=months - 1)
    assert local_day(due) == (*due_day, 23, 59)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)  # stored in UTC


def test_the_day_of_receipt_is_the_controllers_day_not_utcs():
    # 00:30 on 1 March in Helsinki is still 28 February in UTC: the request came on 1 March.
    received = helsinki(2027, 3, 1, 0, 30).astimezone(UTC)
    assert received.day == 28
    assert local_day(due_at(received)) == (2027, 4, 1, 23, 59)


def test_the_end_of_day_follows_summer_time():
    # Received in March (UTC+2), due in April (UTC+3): 23:59 local either way.
    due = due_at(helsinki(2027, 3, 20, 12, 0))
    assert due.astimezone(UTC).hour == 20 and local_day(due)[3:] == (23, 59)


def test_paused_time_moves_the_deadline():
    received = helsinki(2027, 5, 10, 9, 0)
    assert due_at(received, paused=timedelta(days=3, hours=2)) == due_at(received) + timedelta(
        days=3, hours=2
    )


def test_the_first_month_is_the_unextended_deadline():
    received = helsinki(2027, 1, 31, 12, 0)
    assert first_month_ends(received) == due_at(received)
    assert first_month_ends(received) < due_at(received, extended_months=1)


@pytest.mark.parametrize("months", [-1, 3])
def test_an_extension_is_one_or_two_months(months):
    with pytest.raises(ValueError):
        due_at(helsinki(2027, 1, 1, 0, 0), extended_months=months)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        due_at(datetime(2027, 1, 1))


def test_add_months_keeps_the_day_when_it_exists():
    from datetime import date

    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2027, 8, 15), 12) == date(2028, 8, 15)


def test_due_soon_is_the_last_week_before_the_deadline():
    due = datetime(2027, 6, 30, 20, 59, tzinfo=UTC)
    assert is_due_soon(due, due - timedelta(days=6))
    assert not is_due_soon(due, due - timedelta(days=8))
    assert not is_due_soon(due, due + timedelta(minutes=1))  # overdue, not "soon"
