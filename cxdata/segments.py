"""Each segment vs the rest: is a segment's score different from everyone else's?

For one dimension, the engine returns the count columns per value (one grouped query).
The rest of a segment is the total minus the segment, so the rest's counts are exact
without another query; scores and CIs then come from scores.score_frame and the tests
from stats (DESIGN §4):

- NPS: t = (NPS₁ − NPS₂)/√(Var₁/n₁ + Var₂/n₂), NPS as proportions, Var = p + d − (p − d)²;
- shares (CSAT top-2-box, CES % easy, friction, promoter/detractor %): unpooled
  two-proportion z;
- CES mean: Welch t.

|t| > 1.96 is significant at 95%. No test is run when either side is low base or
suppressed (significant is NA then), as for period changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata import config, stats
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.queries import breakdown, responses
from cxdata.scores import (
    COUNT_COLUMNS,
    count_aggregates,
    execute_counts,
    metric_columns,
    metric_def,
    score_frame,
)
from cxdata.store import Store

# For share metrics: (successes column, n column) of the count frame.
_SHARES: dict[str, tuple[str, str]] = {
    "csat": ("csat_top2", "csat_n"),
    "ces_easy": ("ces_easy", "ces_n"),
    "friction": ("friction_events", "friction_n"),
    "detractor_pct": ("detractors", "nps_n"),
    "promoter_pct": ("promoters", "nps_n"),
}

RESULT_COLUMNS: tuple[str, ...] = (
    "segment", "responses", "value", "ci_low", "ci_high", "n", "low_base", "suppressed",
    "rest_value", "rest_n", "rest_low_base", "rest_suppressed", "difference", "stat",
    "significant",
)  # fmt: skip


def rest_counts(groups: pd.DataFrame) -> pd.DataFrame:
    """For each group row, the count columns of all *other* rows (total − the row)."""
    cols = [c for c in COUNT_COLUMNS if c in groups.columns]
    total = groups[cols].sum()
    rest = pd.DataFrame(
        total.to_numpy() - groups[cols].to_numpy(), columns=cols, index=groups.index
    )
    for col in cols:
        rest[col] = rest[col].astype(groups[col].dtype)
    return rest


def _stat(metric: str, seg: pd.DataFrame, rest: pd.DataFrame) -> np.ndarray:
    def c(frame: pd.DataFrame, col: str) -> np.ndarray:
        return frame[col].astype("float64").to_numpy()

    if metric == "nps":
        return stats.nps_change_t(
            c(seg, "promoters"),
            c(seg, "detractors"),
            c(seg, "nps_n"),
            c(rest, "promoters"),
            c(rest, "detractors"),
            c(rest, "nps_n"),
        )
    if metric == "ces":
        mean_s, sd_s = stats.mean_and_sd(c(seg, "ces_sum"), c(seg, "ces_sumsq"), c(seg, "ces_n"))
        mean_r, sd_r = stats.mean_and_sd(c(rest, "ces_sum"), c(rest, "ces_sumsq"), c(rest, "ces_n"))
        return stats.mean_change_t(mean_s, sd_s, c(seg, "ces_n"), mean_r, sd_r, c(rest, "ces_n"))
    hits, n = _SHARES[metric]
    return stats.proportion_change_z(c(seg, hits), c(seg, n), c(rest, hits), c(rest, n))


def segment_vs_rest(
    store: Store,
    filters: Filters,
    dim: str,
    metric: str = "nps",
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """One row per value of `dim` (largest first): the segment's score with CI and n, the
    rest's score and n, the difference (segment − rest, in the metric's unit), the test
    statistic and whether the difference is significant (NA: not tested)."""
    metric_def(metric)
    th = th or config.thresholds()
    groups = breakdown(store, filters, [dim], th)
    if groups.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    seg_view = metric_columns(groups, metric)
    rest = score_frame(rest_counts(groups), th)
    rest_view = metric_columns(rest, metric)
    stat = _stat(metric, groups, rest)
    untested = (
        seg_view["low_base"]
        | seg_view["suppressed"]
        | rest_view["low_base"]
        | rest_view["suppressed"]
    ).to_numpy(dtype=bool)
    significant = pd.array(stats.is_significant(stat), dtype="boolean")
    significant[untested] = pd.NA
    return pd.DataFrame(
        {
            "segment": groups[dim].astype(str),
            "responses": groups["responses"].astype("int64"),
            "value": seg_view["value"],
            "ci_low": seg_view["ci_low"],
            "ci_high": seg_view["ci_high"],
            "n": seg_view["n"].astype("int64"),
            "low_base": seg_view["low_base"].astype(bool),
            "suppressed": seg_view["suppressed"].astype(bool),
            "rest_value": rest_view["value"],
            "rest_n": rest_view["n"].astype("int64"),
            "rest_low_base": rest_view["low_base"].astype(bool),
            "rest_suppressed": rest_view["suppressed"].astype(bool),
            "difference": seg_view["value"] - rest_view["value"],
            "stat": np.where(untested, np.nan, stat),
            "significant": significant,
        }
    ).reset_index(drop=True)


# --- movers: segments whose score changed significantly between two periods -------------

MOVER_COLUMNS: tuple[str, ...] = (
    "dimension",
    "value",
    "now",
    "prev",
    "change",
    "n_now",
    "n_prev",
    "stat",
)


# The count columns each metric's test needs (a movers query computes only those).
_NEEDED: dict[str, tuple[str, ...]] = {
    "nps": ("nps_n", "promoters", "detractors"),
    "csat": ("csat_n", "csat_top2"),
    "ces": ("ces_n", "ces_sum", "ces_sumsq", "ces_easy"),
    "ces_easy": ("ces_n", "ces_easy"),
    "friction": ("friction_n", "friction_events"),
    "detractor_pct": ("nps_n", "detractors"),
    "promoter_pct": ("nps_n", "promoters"),
}


def _date_predicate(t: ir.Table, f: Filters) -> ir.BooleanValue:
    pred = ibis.literal(True)
    if f.start is not None:
        pred &= t.submitted_at >= ibis.timestamp(dt.datetime.combine(f.start, dt.time()))
    if f.end is not None:
        nxt = dt.datetime.combine(f.end + dt.timedelta(days=1), dt.time())
        pred &= t.submitted_at < ibis.timestamp(nxt)
    return pred


def period_counts(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: Sequence[str],
    columns: Sequence[str] = COUNT_COLUMNS,
) -> pd.DataFrame:
    """Count columns per (dimension, value, period) for both periods and every dimension,
    in ONE pushed-down query; `period` is "now" or "prev", missing values are NOT_SET.

    When both periods share their dimension filters (the dashboard's case), each dimension
    is one GROUP BY (period, value) over the rows of either period, combined with UNION ALL;
    otherwise each period is its own branch. Only `columns` (and responses) are computed.
    """
    allowed = store.dimensions()
    for dim in dims:
        if dim not in allowed:
            raise UnknownName("dimension", dim, allowed)
    if not dims:
        return pd.DataFrame(columns=["dimension", "value", "period", *COUNT_COLUMNS])
    wanted = ["responses", *[c for c in columns if c != "responses"]]
    parts = []
    if current.where == previous.where:
        base = responses(store, Filters(where=current.where))
        now, prev = _date_predicate(base, current), _date_predicate(base, previous)
        t = base.filter(now | prev).mutate(period=ibis.ifelse(now, "now", "prev"))
        aggs = {k: v for k, v in count_aggregates(t).items() if k in wanted}
        for dim in dims:
            key = t[dim].fill_null(NOT_SET).cast("string").name("value")
            parts.append(
                t.group_by([t.period, key]).aggregate(**aggs).mutate(dimension=ibis.literal(dim))
            )
    else:
        for label, filters in (("now", current), ("prev", previous)):
            t = responses(store, filters)
            aggs = {k: v for k, v in count_aggregates(t).items() if k in wanted}
            for dim in dims:
                key = t[dim].fill_null(NOT_SET).cast("string").name("value")
                parts.append(
                    t.group_by(key)
                    .aggregate(**aggs)
                    .mutate(dimension=ibis.literal(dim), period=ibis.literal(label))
                )
    counts = execute_counts(ibis.union(*parts, distinct=False))
    for col in COUNT_COLUMNS:  # the columns not asked for are zero (their scores unused)
        if col not in counts.columns:
            counts[col] = 0.0 if col.startswith("ces_s") else 0
    return counts


def movers(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: Sequence[str],
    metric: str = "nps",
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """Segments (dimension, value) whose `metric` changed significantly from `previous` to
    `current`, largest absolute change first — the significant rows of queries.compare for
    each dimension, from one query. Segments that are low base or suppressed in either
    period are not tested."""
    metric_def(metric)
    th = th or config.thresholds()
    counts = period_counts(store, current, previous, dims, _NEEDED[metric])
    if counts.empty:
        return pd.DataFrame(columns=list(MOVER_COLUMNS))
    keys = ["dimension", "value"]
    now = counts[counts["period"] == "now"].drop(columns="period")
    prev = counts[counts["period"] == "prev"].drop(columns="period")
    both = now.merge(prev, on=keys, how="inner", suffixes=("", "_prev"))
    both = both[both["value"] != NOT_SET].reset_index(drop=True)
    cols = [c for c in COUNT_COLUMNS if c in now.columns]
    now_scores = score_frame(both[keys + cols], th)
    prev_scores = score_frame(
        both[keys + [f"{c}_prev" for c in cols]].rename(columns=lambda c: c.removesuffix("_prev")),
        th,
    )
    a, b = metric_columns(now_scores, metric), metric_columns(prev_scores, metric)
    stat = _stat(metric, now_scores, prev_scores)
    tested = ~(a["low_base"] | a["suppressed"] | b["low_base"] | b["suppressed"]).to_numpy(bool)
    keep = tested & stats.is_significant(stat)
    out = pd.DataFrame(
        {
            "dimension": both["dimension"].astype(str),
            "value": both["value"].astype(str),
            "now": a["value"],
            "prev": b["value"],
            "change": a["value"] - b["value"],
            "n_now": a["n"].astype("int64"),
            "n_prev": b["n"].astype("int64"),
            "stat": stat,
        }
    )[keep]
    order = out["change"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)
