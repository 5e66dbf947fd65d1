"""The view state in the URL: global filters and page options ↔ query parameters.

Pure Python (no Streamlit), so the codec is tested on its own and a view saved as a URL
(a subscription, an alert's scope, a board report) is read by the engine exactly as the
dashboard reads it. The parameters:

- ``period``: all | 30d | 90d | qtd | lq | ytd | ly | 12m | custom (default 90d); with
  ``custom`` also ``from`` and ``to`` (YYYY-MM-DD, inclusive);
- ``vs``: prev (previous period, default) | cal (previous calendar period) | yoy (same
  period last year);
- one repeated parameter per filtered dimension, named after it: ``region=Oslo&region=Viken``
  (a dimension whose name collides with a parameter below is written ``dim.<name>``);
- page options, named per page (``grain``, ``split``, ``cols``, ``path``, ``q``, ``pg``,
  ``notes=off`` to hide the trend charts' annotations, ``why`` and ``why.by`` for the
  explanation of a metric's change…;
  the Feedback page's Themes view: ``voc.source``, ``voc.trend``, ``voc.per``…).

A parameter equal to its default is left out, so the default view has a clean URL.
Decoding never fails: an unknown or malformed value falls back to the default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cxdata import periods
from cxdata.filters import Filters

Params = dict[str, list[str]]

PERIODS: dict[str, str] = {
    "all": "All data",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "qtd": "This quarter (quarter to date)",
    "lq": "Last quarter",
    "ytd": "This year (year to date)",
    "ly": "Last year",
    "12m": "Last 12 months",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "90d"
COMPARISONS: dict[str, str] = {
    "prev": "previous period",
    "cal": "previous calendar period",
    "yoy": "same period last year",
}
DEFAULT_COMPARISON = "prev"
# The calendar period of each calendar preset, in months: "previous calendar period" moves
# it back by that much (a quarter to date touches only 1–3 months but is a quarter).
CALENDAR_MONTHS: dict[str, int] = {"qtd": 3, "lq": 3, "ytd": 12, "ly": 12}
CALENDAR_NAMES: dict[int, str] = {1: "previous month", 3: "previous quarter", 12: "previous year"}

GLOBAL_PARAMS = frozenset({"period", "from", "to", "vs"})
# Every page option's parameter name; a dimension with one of these names gets a prefix.
PAGE_PARAMS = frozenset({
    "metric", "grain", "split", "top", "kpi", "cols", "color", "path", "chart", "by",
    "q", "band", "lang", "tp", "seg", "sort", "size", "pg", "view", "order", "export_part",
    "notes",  # the trend charts' annotations: notes=off hides them
    "why", "why.by",  # why did it move: the metric explained and the dimension it is split by
    "why.and",  # … and the second dimension of a two-way split (Trends)
    # the Feedback page's Themes view
    "voc.source", "voc.trend", "voc.per", "voc.theme", "voc.band", "voc.size", "voc.pg",
    # the Touchpoints page's ratings section
    "rating.cols", "rating.by", "drivers.outcome",
})  # fmt: skip
EMBED_PARAMS = frozenset({"embed", "embed_options"})
DIM_PREFIX = "dim."


VIEW_PAGES: tuple[str, ...] = ("overview", "trends", "touchpoints", "segments", "feedback")
"""The pages a saved view can show (their URL paths; the Overview is also "/")."""


def view_problem(path: str, params: Mapping[str, Sequence[str]]) -> str | None:
    """What is wrong with a saved view's page `path` and its global parameters (period,
    comparison, custom dates), in words; None when nothing is. The dashboard quietly falls
    back to defaults on a bad link; a saved view is checked when it is saved instead, so a
    typo never turns into a digest of another period."""
    page = path.strip("/")
    if page not in ("", *VIEW_PAGES):
        return f"the page {path!r} is not one of /, /{', /'.join(VIEW_PAGES)}"
    for name, allowed in (("period", PERIODS), ("vs", COMPARISONS)):
        values = params.get(name)
        if values is not None and (len(values) != 1 or values[0] not in allowed):
            return f"{name} = {values!r} is not one of {', '.join(allowed)}"
    if _last(params.get("period")) == "custom":
        start, end = (_iso(_last(params.get(k)) or "") for k in ("from", "to"))
        if start is None or end is None or start > end:
            return "period = custom needs from and to (YYYY-MM-DD, from on or before to)"
    return None


def unknown_params(params: Mapping[str, Sequence[str]], dims: Sequence[str]) -> list[str]:
    """The parameter names of `params` that are neither a view option nor the filter of
    one of `dims` (a misspelt dimension, one the data does not have): the dashboard
    ignores them, and a saved view says so."""
    known = GLOBAL_PARAMS | PAGE_PARAMS | EMBED_PARAMS | {dim_param(d) for d in dims}
    return sorted(k for k in params if k not in known)


def dim_param(dim: str) -> str:
    """The query parameter of a dimension's filter."""
    reserved = GLOBAL_PARAMS | PAGE_PARAMS | EMBED_PARAMS
    return f"{DIM_PREFIX}{dim}" if dim in reserved or dim.startswith(DIM_PREFIX) else dim


def _iso(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _last(values: Sequence[str] | None) -> str | None:
    return values[-1] if values else None


def decode_choice(values: Sequence[str] | None, choices: Sequence[str], default: str) -> str:
    """The last value if it is one of `choices`, else `default`."""
    value = _last(values)
    return value if value in choices else default


def decode_int(values: Sequence[str] | None, low: int, high: int, default: int) -> int:
    """The last value as an int within [low, high], else `default`."""
    try:
        value = int(_last(values) or "")
    except ValueError:
        return default
    return value if low <= value <= high else default


def decode_many(values: Sequence[str] | None, choices: Sequence[str] | None = None) -> list[str]:
    """Distinct values in URL order, keeping only `choices` when given."""
    out: list[str] = []
    for value in values or ():
        if value not in out and (choices is None or value in choices):
            out.append(value)
    return out


def decode_text(values: Sequence[str] | None, max_len: int = 200) -> str:
    """Free text, trimmed to `max_len` characters."""
    return (_last(values) or "")[:max_len]


@dataclass(frozen=True)
class ViewFilters:
    """The global filters exactly as the user chose them (a preset stays a preset)."""

    period: str = DEFAULT_PERIOD
    start: dt.date | None = None
    end: dt.date | None = None
    compare: str = DEFAULT_COMPARISON
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"unknown period {self.period!r}")
        if self.compare not in COMPARISONS:
            raise ValueError(f"unknown comparison {self.compare!r}")
        if self.period == "custom" and (
            self.start is None or self.end is None or self.start > self.end
        ):
            raise ValueError("a custom period needs a start on or before its end")

    @classmethod
    def make(
        cls,
        period: str = DEFAULT_PERIOD,
        start: dt.date | None = None,
        end: dt.date | None = None,
        compare: str = DEFAULT_COMPARISON,
        where: Mapping[str, Sequence[str]] | None = None,
    ) -> ViewFilters:
        """A ViewFilters with dimension values in a canonical order (sorted by dimension,
        values in the order given, duplicates and empty lists dropped)."""
        items = tuple(
            sorted(
                (dim, tuple(decode_many(values))) for dim, values in (where or {}).items() if values
            )
        )
        if period != "custom":
            start = end = None
        return cls(period, start, end, compare, items)

    def dims(self) -> dict[str, list[str]]:
        """The selected values per dimension."""
        return {dim: list(values) for dim, values in self.where}

    def to_params(self) -> Params:
        """The query parameters of this view (defaults left out)."""
        params: Params = {}
        if self.period != DEFAULT_PERIOD:
            params["period"] = [self.period]
        if self.period == "custom" and self.start and self.end:
            params["from"] = [self.start.isoformat()]
            params["to"] = [self.end.isoformat()]
        if self.compare != DEFAULT_COMPARISON:
            params["vs"] = [self.compare]
        for dim, values in self.where:
            params[dim_param(dim)] = list(values)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]], dims: Sequence[str]) -> ViewFilters:
        """The view in `params`; only the given dimensions are read, bad values are dropped."""
        period = decode_choice(params.get("period"), list(PERIODS), DEFAULT_PERIOD)
        start = _iso(_last(params.get("from")) or "")
        end = _iso(_last(params.get("to")) or "")
        if period == "custom" and (start is None or end is None or start > end):
            period, start, end = DEFAULT_PERIOD, None, None
        compare = decode_choice(params.get("vs"), list(COMPARISONS), DEFAULT_COMPARISON)
        where = {dim: decode_many(params.get(dim_param(dim))) for dim in dims}
        return cls.make(period, start, end, compare, where)

    def date_range(
        self, anchor: dt.date, first: dt.date | None = None
    ) -> tuple[dt.date, dt.date]:
        """The inclusive date range; presets end on `anchor` (the latest data day), "Last
        quarter" / "Last year" are the whole ones before it, "All data" starts on `first`
        (the first data day; ValueError without it)."""
        if self.period == "custom" and self.start and self.end:
            return self.start, self.end
        return preset_range(self.period, anchor, first)

    def filters(self, anchor: dt.date, first: dt.date | None = None) -> Filters:
        """The engine Filters of this view."""
        start, end = self.date_range(anchor, first)
        return Filters.make(start, end, self.dims())

    def compared(self, anchor: dt.date, first: dt.date | None = None) -> Comparison:
        """The comparison period actually used, with its name and, where it is not the one
        chosen, why (see `comparison_of`)."""
        return comparison_of(self.period, self.compare, self.date_range(anchor, first), first)

    def comparison(self, anchor: dt.date, first: dt.date | None = None) -> Filters:
        """The engine Filters of the comparison period (same dimension filters)."""
        used = self.compared(anchor, first)
        return Filters.make(used.start, used.end, self.dims())


@dataclass(frozen=True)
class Comparison:
    """The range a view is compared with: `label` names it as the screen says it
    ("previous quarter"), `note` says why it is not the chosen comparison ("" when it is)."""

    start: dt.date
    end: dt.date
    label: str
    note: str = ""


def comparison_of(
    period: str, compare: str, rng: tuple[dt.date, dt.date], first: dt.date | None = None
) -> Comparison:
    """The comparison range of the range `rng` of preset `period` for the choice `compare`
    (a COMPARISONS key). Never a silent substitute: where the choice cannot apply, the
    previous period is used and `note` says so —

    - a calendar comparison of a range that is not a calendar period (Last 30 days, a custom
      range not starting on the 1st of a month);
    - any comparison that would overlap the range itself (same period last year of a range
      longer than a year): the same answers on both sides make the test meaningless;
    - All data: there is nothing before it (`first`), so its previous period is empty."""
    start, end = rng
    kind = COMPARISONS[compare]
    note = ""
    if compare == "cal":
        months = CALENDAR_MONTHS.get(period) or (
            periods.calendar_months(start, end) if period == "custom" else None
        )
        if months is None:
            kind, note = COMPARISONS["prev"], (
                f"{PERIODS[period]} is not a calendar period (it does not start on the 1st "
                "of a month), so it is compared with the same number of days before it."
            )
        else:
            low, high = periods.comparison_range(start, end, kind, months)
            return Comparison(low, high, CALENDAR_NAMES.get(months, f"previous {months} months"))
    low, high = periods.comparison_range(start, end, kind)
    if periods.overlaps((low, high), rng):
        low, high = periods.comparison_range(start, end, COMPARISONS["prev"])
        kind, note = COMPARISONS["prev"], (
            "The range is longer than a year, so the same period last year would overlap "
            "it; it is compared with the same number of days before it."
        )
    if period == "all" and first is not None:
        note = "All data: there are no answers before the first day, so nothing to compare with."
    return Comparison(low, high, kind, note)


def preset_range(
    period: str, anchor: dt.date, first: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The inclusive range of a preset: ending on `anchor` (the latest data day), except
    the whole calendar periods "Last quarter" and "Last year" before `anchor`'s; "All data"
    starts on `first` (ValueError without it)."""
    if period == "all":
        if first is None:
            raise ValueError("the preset All data needs the first day of the data")
        return min(first, anchor), anchor
    if period == "lq":
        return periods.last_quarter(anchor)
    if period == "ly":
        return periods.last_year(anchor)
    if period == "30d":
        return anchor - dt.timedelta(days=29), anchor
    if period == "qtd":
        return periods.quarter_start(anchor), anchor
    if period == "ytd":
        return dt.date(anchor.year, 1, 1), anchor
    if period == "12m":
        return anchor - dt.timedelta(days=364), anchor
    return anchor - dt.timedelta(days=89), anchor


def same_params(a: Mapping[str, Sequence[str]], b: Mapping[str, Sequence[str]]) -> bool:
    """Whether two parameter sets are equal (key order ignored, value order kept)."""
    return {k: list(v) for k, v in a.items()} == {k: list(v) for k, v in b.items()}


def query_string(params: Mapping[str, Sequence[str]]) -> str:
    """`params` as a URL query string (repeated keys for lists)."""
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, values in params.items() for v in values])
