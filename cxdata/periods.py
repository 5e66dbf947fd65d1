"""Date ranges: presets and the comparison period of a range."""

from __future__ import annotations

import datetime as dt

from cxdata.errors import UnknownName

COMPARISONS = ("previous period", "same period last year")


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The range of the same length that ends the day before `start`."""
    length = end - start
    prev_end = start - dt.timedelta(days=1)
    return prev_end - length, prev_end


def same_period_last_year(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The same calendar days one year earlier (29 Feb → 28 Feb)."""
    return _year_earlier(start), _year_earlier(end)


def comparison_range(start: dt.date, end: dt.date, kind: str) -> tuple[dt.date, dt.date]:
    """The comparison range of `kind` (one of COMPARISONS)."""
    if kind == "previous period":
        return previous_period(start, end)
    if kind == "same period last year":
        return same_period_last_year(start, end)
    raise UnknownName("comparison", kind, COMPARISONS)


def _year_earlier(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)
