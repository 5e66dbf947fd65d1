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
from cxdata.schema import (  # the per-response columns, declared with the data contract
    KEY_CES_W,
    KEY_CSAT_W,
    KEY_TP_W,
    friction_flag,
    score_key,
)
from cxdata.schema import friction_event as friction_event  # the definition, read from here


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


FAMILIES: tuple[str, ...] = ("nps", "csat", "ces", "friction")
# The count columns each family of metrics is computed from.
FAMILY_COUNTS: dict[str, tuple[str, ...]] = {
    "nps": ("nps_n", "promoters", "detractors"),
    "csat": ("csat_n", "csat_top2"),
    "ces": ("ces_n", "ces_sum", "ces_sumsq", "ces_easy"),
    "friction": ("friction_n", "friction_events"),
}


def family_of(metric: str) -> str:
    """The family (nps, csat, ces, friction) whose counts a metric needs."""
    return metric_def(metric).n.removesuffix("_n")


def count_aggregates(t: ir.Table, families: Sequence[str] = FAMILIES) -> dict[str, ir.Value]:
    """The sufficient statistics of `families` as Ibis aggregates (plus `responses`).

    Asking only for the families a view shows matters: each aggregate is a full pass over
    the column in the engine."""
    aggs: dict[str, ir.Value] = {"responses": t.count()}
    if "nps" in families:
        aggs |= {"nps_n": t.nps.count(), "promoters": (t.nps >= 9).sum(),
                 "detractors": (t.nps <= 6).sum()}
    if "csat" in families:
        aggs |= {"csat_n": t.csat.count(), "csat_top2": (t.csat >= 4).sum()}
    if "ces" in families:
        ces = t.ces.cast("float64")
        aggs |= {"ces_n": t.ces.count(), "ces_sum": ces.sum(), "ces_sumsq": (ces * ces).sum(),
                 "ces_easy": (t.ces >= 5).sum()}
    if "friction" in families:
        flag = t._friction if "_friction" in t.columns else friction_flag(t)
        aggs |= {"friction_n": flag.count(), "friction_events": flag.sum()}
    return aggs


def grouped_counts(
    t: ir.Table, by: Sequence[str | ir.Value] = (), families: Sequence[str] = FAMILIES
) -> ir.Table:
    """One aggregate query: the count columns per group (all rows if `by` is empty)."""
    aggs = count_aggregates(t, families)
    return t.group_by(list(by)).aggregate(**aggs) if by else t.aggregate(**aggs)


# The score key (cxdata.schema.score_key) packs a response's three scores and whether it
# has a touchpoint into one small integer; counts_from_keys decodes it.
_CSAT_W, _CES_W, _TP_W = KEY_CSAT_W, KEY_CES_W, KEY_TP_W


def key_counts(t: ir.Table) -> ir.Table:
    """Responses per score key over the whole (filtered) table."""
    key = t["_score_key"].name("score_key") if "_score_key" in t.columns else score_key(t)
    return t.group_by(key).aggregate(n=t.count())


def counts_from_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """The one-row counts frame of every family, decoded from responses per score key."""
    k = keys["score_key"].to_numpy().astype(np.int64)
    w = pd.to_numeric(keys["n"]).to_numpy().astype(np.int64)
    a, b = k % _CSAT_W, (k // _CSAT_W) % 6
    c, tp = (k // _CES_W) % 8, k // _TP_W
    nps = a - 1  # -1 = missing
    scored_tp = (tp == 1) & ((a > 0) | (b > 0) | (c > 0))
    bad = ((c >= 1) & (c <= 3)) | ((b >= 1) & (b <= 2)) | ((nps >= 0) & (nps <= 6))
    row = {
        "responses": w.sum(),
        "nps_n": w[a > 0].sum(), "promoters": w[nps >= 9].sum(),
        "detractors": w[(nps >= 0) & (nps <= 6)].sum(),
        "csat_n": w[b > 0].sum(), "csat_top2": w[b >= 4].sum(),
        "ces_n": w[c > 0].sum(), "ces_sum": float((w * c).sum()),
        "ces_sumsq": float((w * c * c).sum()), "ces_easy": w[c >= 5].sum(),
        "friction_n": w[scored_tp].sum(), "friction_events": w[scored_tp & bad].sum(),
    }
    return pd.DataFrame([row])


def execute_counts(expr: ir.Table, dims: Sequence[str] = ()) -> pd.DataFrame:
    """Run a counts query; counts come back as int64 / float64 on every backend, and a
    missing value of a group dimension as NOT_SET (filled here, not in the engine: a
    COALESCE on every grouped string costs more than the whole rest of the query)."""
    df = expr.to_pandas()
    fixed: dict[str, pd.Series] = {
        col: pd.to_numeric(df[col]).fillna(0).astype(
            "float64" if col.startswith("ces_s") else "int64")
        for col in COUNT_COLUMNS
        if col in df.columns
    }
    fixed |= {d: df[d].astype("object").where(df[d].notna(), NOT_SET) for d in dims}
    return df.assign(**fixed)


def _nps_scores(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n, p, d = c["nps_n"], c["promoters"], c["detractors"]
    out = {"passives": n - p - d, "nps": stats.nps_value(p, d, n)}
    out["nps_ci_low"], out["nps_ci_high"] = stats.nps_ci(p, d, n)
    out["promoter_pct"] = stats.share_pct(p, n)
    out["passive_pct"] = stats.share_pct(n - p - d, n)
    out["detractor_pct"] = stats.share_pct(d, n)
    out["promoter_ci_low"], out["promoter_ci_high"] = stats.wilson_ci(p, n)
    out["detractor_ci_low"], out["detractor_ci_high"] = stats.wilson_ci(d, n)
    return out


def _csat_scores(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"csat": stats.share_pct(c["csat_top2"], c["csat_n"])}
    out["csat_ci_low"], out["csat_ci_high"] = stats.wilson_ci(c["csat_top2"], c["csat_n"])
    return out


def _ces_scores(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    mean, sd = stats.mean_and_sd(c["ces_sum"], c["ces_sumsq"], c["ces_n"])
    out = {"ces": mean, "ces_sd": sd}
    out["ces_ci_low"], out["ces_ci_high"] = stats.mean_ci(mean, sd, c["ces_n"])
    out["ces_easy_pct"] = stats.share_pct(c["ces_easy"], c["ces_n"])
    out["ces_easy_ci_low"], out["ces_easy_ci_high"] = stats.wilson_ci(c["ces_easy"], c["ces_n"])
    return out


def _friction_scores(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"friction": stats.share_pct(c["friction_events"], c["friction_n"])}
    out["friction_ci_low"], out["friction_ci_high"] = stats.wilson_ci(
        c["friction_events"], c["friction_n"])
    return out


_SCORERS = {"nps": _nps_scores, "csat": _csat_scores, "ces": _ces_scores,
            "friction": _friction_scores}


def score_frame(counts: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Counts → values, CIs, shares, low-base and suppression flags, for each family whose
    counts are present (one row per group)."""
    out: dict[str, np.ndarray] = {}
    for family, scorer in _SCORERS.items():
        n_col = f"{family}_n"
        if n_col not in counts.columns:
            continue
        c = {col: counts[col].to_numpy() for col in FAMILY_COUNTS[family]}
        family_out = scorer(c)
        too_small = c[n_col] < th.min_n
        for col in _FAMILIES[n_col]:
            family_out[col] = np.where(too_small, np.nan, family_out[col])
        out |= family_out
        out[f"{family}_suppressed"] = too_small
        out[f"{family}_low_base"] = ~too_small & (c[n_col] < th.low_base)
    return pd.concat([counts, pd.DataFrame(out, index=counts.index)], axis=1)


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
