"""One Filters value (date range + dimension IN-lists) applied identically everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from cxdata import schema
from cxdata.errors import UnknownName

NOT_SET = "(not set)"  # how a missing dimension value is shown, and how to filter on it


@dataclass(frozen=True)
class Filters:
    """Date range (inclusive, by calendar day) and IN-lists per dimension.

    Hashable and made of plain values, so callers can cache on it. An empty IN-list
    means "no restriction on that dimension".
    """

    start: dt.date | None = None
    end: dt.date | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def make(
        cls,
        start: dt.date | None = None,
        end: dt.date | None = None,
        where: Mapping[str, Iterable[str]] | None = None,
    ) -> Filters:
        """Build a Filters with normalised (sorted, de-duplicated, non-empty) IN-lists."""
        if start and end and start > end:
            raise ValueError(f"date range is empty: start {start} is after end {end}")
        items = tuple(
            sorted(
                (dim, tuple(sorted({str(v) for v in values})))
                for dim, values in (where or {}).items()
                if values
            )
        )
        return cls(start=start, end=end, where=items)

    def dims(self) -> dict[str, tuple[str, ...]]:
        """The IN-lists as a dict."""
        return dict(self.where)

    def with_where(self, dim: str, values: Iterable[str]) -> Filters:
        """A copy with the IN-list of one dimension replaced (empty removes it)."""
        merged = self.dims()
        merged[dim] = tuple(values)
        return Filters.make(self.start, self.end, merged)

    def with_dates(self, start: dt.date | None, end: dt.date | None) -> Filters:
        """A copy with another date range."""
        return Filters.make(start, end, self.dims())


def filtered(
    table: ir.Table, filters: Filters, dimensions: Iterable[str], time_column: str
) -> ir.Table:
    """`table` restricted to `filters`; an unknown dimension raises UnknownName."""
    allowed = set(dimensions)
    preds = _date_preds(table[time_column], filters)
    for dim, values in filters.where:
        if dim not in allowed:
            raise UnknownName("dimension", dim, allowed)
        preds.append(in_list(table[dim], values))
    return table.filter(preds) if preds else table


def _date_preds(when: ir.Column, filters: Filters) -> list[ir.BooleanValue]:
    # a date column is compared with dates, a timestamp with midnights: the same days
    bound = ibis.date if when.type().is_date() else (lambda d: ibis.timestamp(_midnight(d)))
    preds: list[ir.BooleanValue] = []
    if filters.start is not None:
        preds.append(when >= bound(filters.start))
    if filters.end is not None:
        preds.append(when < bound(filters.end + dt.timedelta(days=1)))
    return preds


def _date_predicate(table: ir.Table, filters: Filters) -> ir.BooleanValue:
    """True for the responses of `table` inside the date range of `filters` (by calendar
    day, inclusive)."""
    pred: ir.BooleanValue = ibis.literal(True)
    for p in _date_preds(table[schema.time_column(table)], filters):
        pred &= p
    return pred


def in_either_period(table: ir.Table, current: Filters, previous: Filters) -> ir.Table:
    """The rows of `table` (responses) inside the date range of `current` or `previous`,
    with `period` "now" for those of `current` (a day in both counts for "now") and "prev"
    for the others. Only the dates are applied; the caller filters the dimensions."""
    now, prev = _date_predicate(table, current), _date_predicate(table, previous)
    return table.filter(now | prev).mutate(period=ibis.ifelse(now, "now", "prev"))


def in_list(column: ir.StringColumn, values: Iterable[str]) -> ir.BooleanValue:
    """column IN values, where NOT_SET matches a missing value."""
    vals = list(values)
    present = [v for v in vals if v != NOT_SET]
    pred = column.isin(present) if present else ibis.literal(False)
    return pred | column.isnull() if NOT_SET in vals else pred


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)
