"""Date ranges: calendar periods and the comparison period of a range.

Three comparisons (all inclusive day ranges):

- *previous period*: the same number of days, ending the day before the range;
- *same period last year*: the same calendar days one year earlier;
- *previous calendar period*: the range moved back by whole calendar months, so a quarter
  is compared with the quarter before (Q2 vs Q1, not "91 days back"), a month with the
  month before and a year with the year before; a range to date (1 Apr – 17 May) with the
  same stretch of the period before (1 Jan – 17 Feb). Only for ranges that start on the
  first of a month.
"""

from __future__ import annotations

import calendar
import datetime as dt

from cxdata.errors import UnknownName

COMPARISONS = ("previous period", "same period last year", "previous calendar period")


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The range of the same length that ends the day before `start`."""
    length = end - start
    prev_end = start - dt.timedelta(days=1)
    return prev_end - length, prev_end


def same_period_last_year(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The same calendar days one year earlier (29 Feb → 28 Feb)."""
    return _year_earlier(start), _year_earlier(end)


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by `months` calendar months (negative: back); a day the target month
    does not have becomes its last day (31 May − 3 months → 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def quarter_start(day: dt.date) -> dt.date:
    """The first day of `day`'s calendar quarter (1 Jan, 1 Apr, 1 Jul, 1 Oct)."""
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def last_quarter(day: dt.date) -> tuple[dt.date, dt.date]:
    """The whole calendar quarter before `day`'s quarter."""
    start = add_months(quarter_start(day), -3)
    return start, quarter_start(day) - dt.timedelta(days=1)


def last_year(day: dt.date) -> tuple[dt.date, dt.date]:
    """The whole calendar year before `day`'s year."""
    return dt.date(day.year - 1, 1, 1), dt.date(day.year - 1, 12, 31)


def calendar_months(start: dt.date, end: dt.date) -> int | None:
    """How many calendar months a range touches (1 Apr – 17 May: 2), or None when it does
    not start on the first of a month (then it is not a calendar period)."""
    if start.day != 1 or end < start:
        return None
    return (end.year - start.year) * 12 + end.month - start.month + 1


def previous_calendar_period(
    start: dt.date, end: dt.date, months: int
) -> tuple[dt.date, dt.date]:
    """The range `months` calendar months earlier: the start moves to the first of its
    month, an end on a month's last day to that month's last day (March → February ends on
    the 28th/29th), any other end to the same day (clamped to the month's length)."""
    moved_end = add_months(end, -months)
    if end == month_end(end):
        moved_end = month_end(moved_end)
    return add_months(start, -months), moved_end


def overlaps(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    """Whether two inclusive day ranges share a day (their answers would be counted in
    both, and a test between them would be wrong)."""
    return a[0] <= b[1] and b[0] <= a[1]


def comparison_range(
    start: dt.date, end: dt.date, kind: str, months: int | None = None
) -> tuple[dt.date, dt.date]:
    """The comparison range of `kind` (one of COMPARISONS). For "previous calendar period",
    `months` is the length of the calendar period (3 for a quarter to date, whose range
    touches fewer months); default: the months the range touches.

    Raises UnknownName for another kind, ValueError when a calendar comparison is asked for
    a range that does not start on the first of a month."""
    if kind == "previous period":
        return previous_period(start, end)
    if kind == "same period last year":
        return same_period_last_year(start, end)
    if kind == "previous calendar period":
        step = months or calendar_months(start, end)
        if step is None:
            raise ValueError(f"{start} – {end} is not a calendar period (no start on a 1st)")
        return previous_calendar_period(start, end, step)
    raise UnknownName("comparison", kind, COMPARISONS)


def _year_earlier(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)
