"""Score frames: pushed-down sufficient statistics → NPS / CSAT / CES / friction with CIs.

The engine computes only counts and sums per group (one aggregate query); the formulas
of DESIGN §4 are then applied to that small frame here. Every metric keeps its n.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata import stats
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET


@dataclass(frozen=True)
class MetricDef:
    """How to read one metric out of a score frame."""

    name: str
    label: str
    unit: str
    value: str
    n: str
    ci_low: str | None
    ci_high: str | None
    higher_is_better: bool
    scale: tuple[float, float]


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("nps", "NPS", "points", "nps", "nps_n", "nps_ci_low", "nps_ci_high", True,
                  (-100, 100)),
        MetricDef("csat", "CSAT (top-2-box %)", "%", "csat", "csat_n", "csat_ci_low",
                  "csat_ci_high", True, (0, 100)),
        MetricDef("ces", "CES (mean, 1–7)", "", "ces", "ces_n", "ces_ci_low", "ces_ci_high",
                  True, (1, 7)),
        MetricDef("ces_easy", "CES % easy (5–7)", "%", "ces_easy_pct", "ces_n",
                  "ces_easy_ci_low", "ces_easy_ci_high", True, (0, 100)),
        MetricDef("friction", "Friction rate %", "%", "friction", "friction_n",
                  "friction_ci_low", "friction_ci_high", False, (0, 100)),
        MetricDef("detractor_pct", "Detractors %", "%", "detractor_pct", "nps_n",
                  "detractor_ci_low", "detractor_ci_high", False, (0, 100)),
        MetricDef("promoter_pct", "Promoters %", "%", "promoter_pct", "nps_n",
                  "promoter_ci_low", "promoter_ci_high", True, (0, 100)),
    )
}
# The families suppressed together: a metric is hidden when its own n is below min_n.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "nps_n": ("nps", "nps_ci_low", "nps_ci_high", "promoter_pct", "passive_pct",
              "detractor_pct", "promoter_ci_low", "promoter_ci_high", "detractor_ci_low",
              "detractor_ci_high"),
    "csat_n": ("csat", "csat_ci_low", "csat_ci_high"),
    "ces_n": ("ces", "ces_sd", "ces_ci_low", "ces_ci_high", "ces_easy_pct", "ces_easy_ci_low",
              "ces_easy_ci_high"),
    "friction_n": ("friction", "friction_ci_low", "friction_ci_high"),
}
COUNT_COLUMNS: tuple[str, ...] = (
    "responses", "nps_n", "promoters", "detractors", "csat_n", "csat_top2", "ces_n", "ces_sum",
    "ces_sumsq", "ces_easy", "friction_n", "friction_events",
)


def metric_def(name: str) -> MetricDef:
    """The metric called `name`, or UnknownName listing the allowed ones."""
    if name not in METRICS:
        raise UnknownName("metric", name, METRICS)
    return METRICS[name]


def friction_event(t: ir.Table) -> ir.BooleanValue:
    """A response reports friction when CES ≤ 3 (hard), CSAT ≤ 2, or NPS ≤ 6 (detractor).

    Only responses tied to a touchpoint count: a touchpoint-tagged answer is a transactional
    survey about that touchpoint, which is when a detractor score is friction there.
    """
    return (
        (t.ces <= 3).fill_null(False)
        | (t.csat <= 2).fill_null(False)
        | (t.nps <= 6).fill_null(False)
    )


def _any_score(t: ir.Table) -> ir.BooleanValue:
    return t.nps.notnull() | t.csat.notnull() | t.ces.notnull()


def count_aggregates(t: ir.Table) -> dict[str, ir.Value]:
    """The sufficient statistics every score needs, as Ibis aggregate expressions."""
    ces = t.ces.cast("float64")
    at_touchpoint = t.touchpoint.notnull() & _any_score(t)
    return {
        "responses": t.count(),
        "nps_n": t.nps.count(),
        "promoters": (t.nps >= 9).sum(),
        "detractors": (t.nps <= 6).sum(),
        "csat_n": t.csat.count(),
        "csat_top2": (t.csat >= 4).sum(),
        "ces_n": t.ces.count(),
        "ces_sum": ces.sum(),
        "ces_sumsq": (ces * ces).sum(),
        "ces_easy": (t.ces >= 5).sum(),
        "friction_n": at_touchpoint.sum(),
        "friction_events": (at_touchpoint & friction_event(t)).sum(),
    }


def grouped_counts(t: ir.Table, by: Sequence[str | ir.Value] = ()) -> ir.Table:
    """One aggregate query: the count columns per group (all rows if `by` is empty)."""
    aggs = count_aggregates(t)
    return t.group_by(list(by)).aggregate(**aggs) if by else t.aggregate(**aggs)


def group_keys(t: ir.Table, dims: Sequence[str]) -> list[ir.Value]:
    """Group keys for `dims` with missing values shown as NOT_SET (the columns themselves
    stay untouched, so e.g. friction still sees a missing touchpoint as missing)."""
    return [t[d].fill_null(NOT_SET).name(d) for d in dims]


def execute_counts(expr: ir.Table) -> pd.DataFrame:
    """Run a counts query; counts come back as int64 / float64 on every backend."""
    df = expr.to_pandas()
    for col in COUNT_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col]).fillna(0)
            df[col] = df[col].astype("float64" if col.startswith("ces_s") else "int64")
    return df


def score_frame(counts: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Counts → values, CIs, shares, low-base and suppression flags (one row per group)."""
    df = counts.copy()
    n = df["nps_n"].to_numpy()
    p, d = df["promoters"].to_numpy(), df["detractors"].to_numpy()
    df["passives"] = n - p - d
    df["nps"] = stats.nps_value(p, d, n)
    df["nps_ci_low"], df["nps_ci_high"] = stats.nps_ci(p, d, n)
    df["promoter_pct"] = stats.share_pct(p, n)
    df["passive_pct"] = stats.share_pct(n - p - d, n)
    df["detractor_pct"] = stats.share_pct(d, n)
    df["promoter_ci_low"], df["promoter_ci_high"] = stats.wilson_ci(p, n)
    df["detractor_ci_low"], df["detractor_ci_high"] = stats.wilson_ci(d, n)

    df["csat"] = stats.share_pct(df["csat_top2"], df["csat_n"])
    df["csat_ci_low"], df["csat_ci_high"] = stats.wilson_ci(df["csat_top2"], df["csat_n"])

    mean, sd = stats.mean_and_sd(df["ces_sum"], df["ces_sumsq"], df["ces_n"])
    df["ces"], df["ces_sd"] = mean, sd
    df["ces_ci_low"], df["ces_ci_high"] = stats.mean_ci(mean, sd, df["ces_n"])
    df["ces_easy_pct"] = stats.share_pct(df["ces_easy"], df["ces_n"])
    df["ces_easy_ci_low"], df["ces_easy_ci_high"] = stats.wilson_ci(df["ces_easy"], df["ces_n"])

    df["friction"] = stats.share_pct(df["friction_events"], df["friction_n"])
    df["friction_ci_low"], df["friction_ci_high"] = stats.wilson_ci(
        df["friction_events"], df["friction_n"]
    )
    for n_col, cols in _FAMILIES.items():
        family = n_col.removesuffix("_n")
        too_small = df[n_col] < th.min_n
        df[f"{family}_suppressed"] = too_small
        df[f"{family}_low_base"] = ~too_small & (df[n_col] < th.low_base)
        df.loc[too_small, list(cols)] = np.nan
    return df


def metric_columns(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Generic columns value, n, ci_low, ci_high, suppressed, low_base for one metric."""
    m = metric_def(metric)
    family = m.n.removesuffix("_n")
    out = pd.DataFrame(index=frame.index)
    out["value"] = frame[m.value]
    out["n"] = frame[m.n]
    out["ci_low"] = frame[m.ci_low] if m.ci_low else np.nan
    out["ci_high"] = frame[m.ci_high] if m.ci_high else np.nan
    out["suppressed"] = frame[f"{family}_suppressed"]
    out["low_base"] = frame[f"{family}_low_base"]
    return out
