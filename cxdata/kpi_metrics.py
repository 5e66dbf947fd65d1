"""KPIs of the metrics dataset (retention, churn, wait time…) and of the response volume.

The metrics dataset holds time series from other systems, optionally one series per
segment (e.g. per country) or touchpoint. For a date range this module reports, per metric:

- the **value**: the mean over the range of the per-date values, where a per-date value is
  the unweighted mean over the series inside the filters (the dataset carries no weights);
- the **change** vs a comparison range, with a Welch t-test on the per-date values
  (t = (m₁ − m₂)/√(s₁²/k₁ + s₂²/k₂), Welch–Satterthwaite degrees of freedom, two-sided 95%),
  run only when both ranges have at least `MIN_POINTS` dates — otherwise it says why not;
- the **target** (mean of the targets given for those dates) and whether it is met.

Every aggregate is pushed down (one grouped query per range); only one row per
(metric, date) comes back.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxdata import config, schema, stats
from cxdata.config import Thresholds
from cxdata.filters import Filters, filtered
from cxdata.metrics import compare
from cxdata.queries import Kpis
from cxdata.store import Store

MIN_POINTS = 3
"""Fewer dates than this in either range → the change is not tested."""

# Words in a metric's name that mean "lower is better"; anything else is higher-is-better.
LOWER_IS_BETTER_WORDS: tuple[str, ...] = (
    "churn", "wait", "time", "complaint", "cost", "effort", "abandon", "backlog", "escalat",
    "error", "delay", "defect", "cancel", "refund", "return",
)  # fmt: skip

# Two-sided 95% critical values of Student's t for 1…30 degrees of freedom.
_T95: tuple[float, ...] = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

SERIES_COLUMNS: tuple[str, ...] = ("metric", "date", "value", "series", "target", "unit")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is good, judged from its name."""
    name = metric.lower()
    return not any(word in name for word in LOWER_IS_BETTER_WORDS)


def t_critical_95(df: float) -> float:
    """Two-sided 95% critical value of Student's t: the table for 1…30 degrees of freedom,
    linear in 1/df between its rows and from df=30 (2.042) towards df=∞ (1.96)."""
    if math.isnan(df):
        return math.inf
    if math.isinf(df):
        return stats.Z95
    if df <= 1:
        return _T95[0]
    if df >= 30:
        return stats.Z95 + (_T95[29] - stats.Z95) * (30 / df)
    lo = math.floor(df)
    w = (1 / lo - 1 / df) / (1 / lo - 1 / (lo + 1))
    return _T95[lo - 1] + w * (_T95[lo] - _T95[lo - 1])


def applicable_filters(store: Store, filters: Filters) -> tuple[Filters, tuple[str, ...]]:
    """`filters` reduced to the dimensions the metrics dataset has, and the dimensions
    that had to be dropped (the KPIs are then not restricted by them: say so in the UI)."""
    dims = set(store.dimensions(schema.METRICS))
    kept = {d: v for d, v in filters.where if d in dims}
    ignored = tuple(d for d, _ in filters.where if d not in dims)
    return Filters.make(filters.start, filters.end, kept), ignored


def empty_series() -> pd.DataFrame:
    """A metric_series frame without rows (typed, so date arithmetic still works)."""
    return pd.DataFrame(
        {
            "metric": pd.Series(dtype="str"),
            "date": pd.Series(dtype="datetime64[us]"),
            "value": pd.Series(dtype="float64"),
            "series": pd.Series(dtype="int64"),
            "target": pd.Series(dtype="float64"),
            "unit": pd.Series(dtype="str"),
        }
    )


def metric_series(store: Store, filters: Filters) -> pd.DataFrame:
    """One row per (metric, date) inside `filters`: value (mean over the series), series
    (how many series had a value), target (mean target, NaN if none) and unit."""
    if not store.has(schema.METRICS):
        return empty_series()
    applied, _ = applicable_filters(store, filters)
    t = filtered(store.table(schema.METRICS), applied, store.dimensions(schema.METRICS), "date")
    t = t.filter(t.value.notnull())
    agg = t.group_by(["metric", "date"]).aggregate(
        value=t.value.mean(),
        series=t.value.count(),
        target=t.target.mean(),
        unit=t.unit.max(),
    )
    frame = agg.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None)
    frame["series"] = frame["series"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["target"] = pd.to_numeric(frame["target"]).astype("float64")
    frame["unit"] = frame["unit"].fillna("").astype(str)
    return frame.sort_values(["metric", "date"], ignore_index=True)[list(SERIES_COLUMNS)]


@dataclass(frozen=True)
class MetricKpi:
    """One metrics-dataset KPI over a range, vs the comparison range."""

    metric: str
    unit: str
    value: float | None
    previous: float | None
    change: float | None
    points: int
    previous_points: int
    series: int
    target: float | None
    higher_is_better: bool
    stat: float | None
    significant: bool | None
    note: str
    first: dt.date | None
    last: dt.date | None

    @property
    def on_target(self) -> bool | None:
        """Whether the value meets the target (None without a value or a target)."""
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return mean, sd


def welch_change(now: np.ndarray, prev: np.ndarray) -> tuple[float, float, bool]:
    """Welch t-test on two samples: (t, degrees of freedom, significant at 95%)."""
    m1, s1 = _mean_sd(now)
    m2, s2 = _mean_sd(prev)
    v1, v2 = s1**2 / now.size, s2**2 / prev.size
    t = float(stats.mean_change_t(m1, s1, now.size, m2, s2, prev.size))
    denom = (v1**2 / (now.size - 1) if v1 else 0.0) + (v2**2 / (prev.size - 1) if v2 else 0.0)
    df = (v1 + v2) ** 2 / denom if denom > 0 else float("inf")
    significant = bool(abs(t) > t_critical_95(df)) if math.isfinite(t) else t != 0
    return t, df, significant


def _kpi(name: str, now: pd.DataFrame, prev: pd.DataFrame) -> MetricKpi:
    a = now["value"].to_numpy(dtype="float64")
    b = prev["value"].to_numpy(dtype="float64")
    value = float(a.mean()) if a.size else None
    previous = float(b.mean()) if b.size else None
    change = value - previous if value is not None and previous is not None else None
    stat: float | None = None
    significant: bool | None = None
    if a.size >= MIN_POINTS and b.size >= MIN_POINTS:
        stat, df, significant = welch_change(a, b)
        note = f"Welch t-test on {a.size} vs {b.size} dated values (t={stat:.2f}, df={df:.1f})"
    elif change is None:
        note = "no values in the comparison period" if value is not None else "no values"
    else:
        note = f"not tested: fewer than {MIN_POINTS} dated values per period ({a.size} vs {b.size})"
    targets = now["target"].dropna()
    units = now["unit"] if not now.empty else prev["unit"]
    return MetricKpi(
        metric=name,
        unit=str(units.iloc[0]) if len(units) else "",
        value=value,
        previous=previous,
        change=change,
        points=int(a.size),
        previous_points=int(b.size),
        series=int(now["series"].max()) if not now.empty else 0,
        target=float(targets.mean()) if len(targets) else None,
        higher_is_better=higher_is_better(name),
        stat=stat,
        significant=significant,
        note=note,
        first=now["date"].min().date() if not now.empty else None,
        last=now["date"].max().date() if not now.empty else None,
    )


def in_range(series: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of a metric_series frame inside the date range of `filters`."""
    dates = series["date"].dt.date
    keep = pd.Series(True, index=series.index)
    if filters.start is not None:
        keep &= dates >= filters.start
    if filters.end is not None:
        keep &= dates <= filters.end
    return series[keep]


def kpis_from_series(series: pd.DataFrame, current: Filters, previous: Filters) -> list[MetricKpi]:
    """MetricKpis from a metric_series frame that covers both date ranges."""
    now, prev = in_range(series, current), in_range(series, previous)
    return [
        _kpi(name, now[now["metric"] == name], prev[prev["metric"] == name])
        for name in sorted(set(now["metric"]))
    ]


def covering(*ranges: Filters) -> Filters:
    """One Filters whose date range covers all of `ranges` (same dimension filters)."""
    starts = [f.start for f in ranges]
    ends = [f.end for f in ranges]
    start = None if None in starts else min(s for s in starts if s is not None)
    end = None if None in ends else max(e for e in ends if e is not None)
    return ranges[0].with_dates(start, end)


def metric_kpis(store: Store, current: Filters, previous: Filters) -> list[MetricKpi]:
    """Each metric's value over `current`, its change vs `previous` and the test of it,
    in the order the metric names sort; metrics with no value in `current` are left out.
    One query when both ranges have the same dimension filters."""
    if current.where == previous.where:
        series = metric_series(store, covering(current, previous))
        return kpis_from_series(series, current, previous)
    both = pd.concat(
        [metric_series(store, current), metric_series(store, previous)], ignore_index=True
    ).drop_duplicates(["metric", "date"])
    return kpis_from_series(both, current, previous)


def trailing_window(filters: Filters, days: int = 365) -> Filters:
    """`filters` with the date range widened to the `days` ending on its end date, so a
    sparkline of monthly values has enough points even for a 30-day range."""
    end = filters.end or dt.date.today()
    start = end - dt.timedelta(days=days - 1)
    if filters.start is not None and filters.start < start:
        start = filters.start
    return filters.with_dates(start, end)


@dataclass(frozen=True)
class VolumeChange:
    """Response count now vs before, with a Poisson test of the difference.

    For counts over equally long periods, z = (N₁ − N₂)/√(N₁ + N₂) (the normal approximation
    of the conditional binomial test); with unequal lengths the rates are compared instead.
    """

    now: int
    previous: int
    change_pct: float | None
    z: float | None
    significant: bool | None


def volume_change(
    now: int, previous: int, now_days: int = 1, previous_days: int = 1
) -> VolumeChange:
    """The change of the response count and whether it is more than chance (95%)."""
    if previous <= 0 or now_days <= 0 or previous_days <= 0:
        return VolumeChange(now, previous, None, None, None)
    rate_now, rate_prev = now / now_days, previous / previous_days
    change_pct = 100.0 * (rate_now - rate_prev) / rate_prev
    # variance of a Poisson rate estimate: N / T²
    z = (rate_now - rate_prev) / math.sqrt(now / now_days**2 + previous / previous_days**2)
    return VolumeChange(now, previous, change_pct, z, bool(abs(z) > stats.Z95))


def days_in(filters: Filters) -> int:
    """Calendar days of a Filters' date range (0 when it is open-ended)."""
    if filters.start is None or filters.end is None:
        return 0
    return (filters.end - filters.start).days + 1


def volume_change_between(
    now: int, previous: int, current: Filters, prior: Filters
) -> VolumeChange:
    """volume_change for two date ranges (per-day rates when their lengths differ)."""
    return volume_change(now, previous, days_in(current) or 1, days_in(prior) or 1)


_PERIOD_END = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(days=7),
    "month": pd.offsets.MonthBegin(1),
    "quarter": pd.offsets.QuarterBegin(1, startingMonth=1),
}


def answers_per_day(
    periods: pd.Series, counts: pd.Series, grain: str, start: dt.date, end: dt.date
) -> pd.Series:
    """Answers per calendar day of each period that lies inside [start, end], so that a
    partial first or last week/month is not drawn as a drop in volume."""
    first = pd.to_datetime(periods)
    last = first + _PERIOD_END[grain]
    lo = first.clip(lower=pd.Timestamp(start))
    hi = last.clip(upper=pd.Timestamp(end) + pd.Timedelta(days=1))
    days = (hi - lo).dt.days.clip(lower=1)
    return counts.astype("float64") / days.to_numpy()


# --- survey KPI changes from two Kpis (no extra query) ----------------------------------


@dataclass(frozen=True)
class ScoreChange:
    """One survey metric now vs before: the change in its unit and its test.

    `significant` is None when no test is run (either side low base or suppressed).
    The tests are those of queries.compare (DESIGN §4): NPS t-test with
    Var = p + d − (p − d)², two-proportion z for CSAT and friction, Welch t for CES.
    """

    metric: str
    now: float | None
    previous: float | None
    change: float | None
    n_now: int
    n_previous: int
    stat: float | None
    significant: bool | None


def score_change(
    metric: str, now: Kpis, previous: Kpis, th: Thresholds | None = None
) -> ScoreChange:
    """The change of any registered `metric` between two Kpis, tested by the
    metric's family (cxdata.metrics.compare) on the counts each Score carries."""
    a, b = now.score(metric), previous.score(metric)
    change = a.value - b.value if a.value is not None and b.value is not None else None
    test = compare(metric, _one_row(a.counts), _one_row(b.counts), th or config.thresholds())
    stat = None if np.isnan(test.stat[0]) else float(test.stat[0])
    significant = None if test.significant[0] is pd.NA else bool(test.significant[0])
    return ScoreChange(metric, a.value, b.value, change, a.n, b.n, stat, significant)


def _one_row(counts: dict[str, float]) -> dict[str, list[float]]:
    return {k: [v] for k, v in counts.items()}
