"""KPIs of the metrics dataset (retention, churn, wait time…) and of the response volume.

The metrics dataset holds time series from other systems, optionally one series per
segment (e.g. per country) or touchpoint. For a date range this module reports, per metric:

- the **value**: the mean over the range of the per-date values, where a per-date value is
  the unweighted mean over the series inside the filters (the dataset carries no weights);
- the **change** vs a comparison range, like with like: when the ranges hold different
  numbers of dates (2 monthly values now, 3 before), both are cut to their latest k dates;
- its **test**: for a % rate whose every value has a `base` (customers, contacts) the rate is
  the pooled one, Σ(value·base)/Σbase, and the change is an unpooled two-proportion z-test
  on those counts (z = (p₁ − p₂)/√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂), n = Σbase; DESIGN §4);
  otherwise a Welch t-test on the per-date values (t = (m₁ − m₂)/√(s₁²/k₁ + s₂²/k₂),
  Welch–Satterthwaite degrees of freedom, two-sided 95%), run only when both ranges have at
  least `MIN_POINTS` dates — otherwise the change is shown, not tested, and it says why;
- the **target** (mean of the targets given for those dates) and whether it is met.

Every aggregate is pushed down (one grouped query per range); only one row per
(metric, date) comes back.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import ibis
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

SERIES_COLUMNS: tuple[str, ...] = (
    "metric", "date", "value", "series", "target", "unit", "base", "hits", "based",
)  # fmt: skip


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
            "base": pd.Series(dtype="float64"),
            "hits": pd.Series(dtype="float64"),
            "based": pd.Series(dtype="int64"),
        }
    )


def metric_series(store: Store, filters: Filters) -> pd.DataFrame:
    """One row per (metric, date) inside `filters`: value, series (how many series had a
    value), target (mean target, NaN if none), unit, and from the optional `base` column:
    base (Σ base), hits (Σ value/100 · base: the counts of a % rate) and based (how many
    series had a base; 0 in a store without the column). The value is the pooled rate
    100·hits/base for a % metric whose every series has a base that date (the company's
    churn, not the mean of the countries'), else the unweighted mean over the series."""
    if not store.has(schema.METRICS):
        return empty_series()
    applied, _ = applicable_filters(store, filters)
    t = filtered(store.table(schema.METRICS), applied, store.dimensions(schema.METRICS), "date")
    t = t.filter(t.value.notnull())
    # stores written before `base` joined the contract do not have the column
    base = t.base.cast("float64") if "base" in t.columns else t.value * ibis.null("float64")
    agg = t.group_by(["metric", "date"]).aggregate(
        value=t.value.mean(),
        series=t.value.count(),
        target=t.target.mean(),
        unit=t.unit.max(),
        base=base.sum(),
        hits=(t.value * base / 100.0).sum(),
        based=base.count(),
    )
    frame = agg.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None)
    frame["series"] = frame["series"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["target"] = pd.to_numeric(frame["target"]).astype("float64")
    frame["unit"] = frame["unit"].fillna("").astype(str)
    for col in ("base", "hits"):
        frame[col] = pd.to_numeric(frame[col]).astype("float64")
    frame["based"] = frame["based"].fillna(0).astype("int64")
    pooled = (frame["unit"] == "%") & (frame["based"] == frame["series"]) & (frame["base"] > 0)
    frame["value"] = frame["value"].where(~pooled, 100.0 * frame["hits"] / frame["base"])
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
    cadence: str = "dated"
    """"monthly", "weekly", "daily", "quarterly" or "dated": how often the metric has a value."""
    base: float | None = None
    """Σ base of the range when the change was tested on the counts (else None)."""
    previous_base: float | None = None
    untested: str = ""
    """Why the change was not tested, in a few words ("" when it was)."""
    previous_first: dt.date | None = None
    previous_last: dt.date | None = None
    """The comparison's dates used (like with like: maybe fewer than it holds)."""

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


def cadence(dates: pd.Series) -> str:
    """How often a series has a value, from the median gap between its distinct dates:
    "daily", "weekly", "monthly", "quarterly", or "dated" (irregular or a single date)."""
    days = pd.Series(pd.to_datetime(dates).unique()).sort_values().diff().dt.days.dropna()
    if days.empty:
        return "dated"
    gap = float(days.median())
    for name, low, high in (("daily", 1, 1), ("weekly", 7, 7), ("monthly", 28, 31),
                            ("quarterly", 89, 92)):  # fmt: skip
        if low <= gap <= high:
            return name
    return "dated"


def like_with_like(now: pd.DataFrame, prev: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both ranges' per-date rows cut to the same number of dates, the latest of each (a
    mean of 2 months is not compared with a mean of 3); a range without dates is kept."""
    k = min(len(now), len(prev))
    if k == 0:
        return now, prev
    return now.sort_values("date").tail(k), prev.sort_values("date").tail(k)


def has_counts(frame: pd.DataFrame) -> bool:
    """Whether every date of a % metric has a base for each of its series (so the rate's
    counts are known); False for an empty frame."""
    return (
        not frame.empty
        and bool((frame["unit"] == "%").all())
        and bool((frame["based"] == frame["series"]).all())
        and float(frame["base"].sum()) > 0
    )


@dataclass(frozen=True)
class KpiChange:
    """A metrics-dataset KPI over two like-with-like ranges: values, change and its test."""

    value: float | None
    previous: float | None
    stat: float | None = None
    significant: bool | None = None
    note: str = ""
    untested: str = ""
    base: float | None = None
    previous_base: float | None = None

    @property
    def change(self) -> float | None:
        """value − previous (None when either is missing)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def counts_change(now: pd.DataFrame, prev: pd.DataFrame, every: str) -> KpiChange:
    """The pooled rate of each range (100·Σhits/Σbase) and the two-proportion z-test of
    the change on those counts (both ranges must pass has_counts)."""
    hits, base = float(now["hits"].sum()), float(now["base"].sum())
    p_hits, p_base = float(prev["hits"].sum()), float(prev["base"].sum())
    z = float(stats.proportion_change_z(hits, base, p_hits, p_base))
    return KpiChange(
        100.0 * hits / base, 100.0 * p_hits / p_base, z, bool(abs(z) > stats.Z95),
        f"tested on the counts: {hits:,.0f} of {base:,.0f} vs {p_hits:,.0f} of {p_base:,.0f} "
        f"(two-proportion z = {z:.2f})",
        base=base, previous_base=p_base,
    )  # fmt: skip


def values_change(now: pd.DataFrame, prev: pd.DataFrame, every: str) -> KpiChange:
    """The mean of the per-date values of each range and, with MIN_POINTS+ dates in both,
    the Welch t-test of the change; otherwise the reason it is not tested."""
    a = now["value"].to_numpy(dtype="float64")
    b = prev["value"].to_numpy(dtype="float64")
    value = float(a.mean()) if a.size else None
    previous = float(b.mean()) if b.size else None
    if value is None or previous is None:
        why = "no values before" if value is not None else "no values"
        return KpiChange(value, previous, note=why, untested=why)
    if a.size >= MIN_POINTS and b.size >= MIN_POINTS:
        t, df, significant = welch_change(a, b)
        note = f"Welch t-test on {a.size} vs {b.size} {every} values (t = {t:.2f}, df = {df:.1f})"
        return KpiChange(value, previous, t, significant, note)
    lacking = "no base to count on" if (now["unit"] == "%").all() else "not a % rate"
    note = (
        f"{a.size} {every} value{'s' if a.size != 1 else ''} per period: too few to test (a "
        f"test needs {MIN_POINTS}+ values, or a % rate with its base; here {lacking}); the "
        "change is shown, not tested"
    )
    return KpiChange(value, previous, note=note, untested="too few values")


def _kpi(name: str, now: pd.DataFrame, prev: pd.DataFrame) -> MetricKpi:
    now, prev = like_with_like(now, prev)
    every = cadence(pd.concat([now["date"], prev["date"]]))
    counted = has_counts(now) and has_counts(prev)
    c = counts_change(now, prev, every) if counted else values_change(now, prev, every)
    targets = now["target"].dropna()
    units = now["unit"] if not now.empty else prev["unit"]
    return MetricKpi(
        metric=name,
        unit=str(units.iloc[0]) if len(units) else "",
        value=c.value,
        previous=c.previous,
        change=c.change,
        points=len(now),
        previous_points=len(prev),
        series=int(now["series"].max()) if not now.empty else 0,
        target=float(targets.mean()) if len(targets) else None,
        higher_is_better=higher_is_better(name),
        stat=c.stat,
        significant=c.significant,
        note=c.note,
        first=now["date"].min().date() if not now.empty else None,
        last=now["date"].max().date() if not now.empty else None,
        cadence=every,
        base=c.base,
        previous_base=c.previous_base,
        untested=c.untested,
        previous_first=prev["date"].min().date() if not prev.empty else None,
        previous_last=prev["date"].max().date() if not prev.empty else None,
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


SPARK_MONTHS = 12
"""Tiles' sparklines show this many calendar months, the last one ending the period."""


def trailing_window(filters: Filters, months: int = SPARK_MONTHS) -> Filters:
    """`filters` with the date range widened to the `months` calendar months ending with
    its end date's month (the first from its 1st day, the last up to the end date), so a
    monthly sparkline has whole months and enough points even for a 30-day range; a range
    that starts earlier keeps its start."""
    end = filters.end or dt.date.today()
    first = (pd.Timestamp(end.replace(day=1)) - pd.DateOffset(months=months - 1)).date()
    start = first
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
