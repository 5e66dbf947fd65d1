"""Score frames: pushed-down sufficient statistics → every registered metric with its CI.

The engine computes only counts and sums per group (one aggregate query); the metric
registry (cxdata.metrics: bases, measures, families) says which counts, and its formulas
(DESIGN §4) are applied to that small frame here. Every metric keeps its n.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata.config import Thresholds
from cxdata.filters import NOT_SET
from cxdata.metrics import (
    BASES,
    count_columns,
    key_parts,
    measures_of,
    metric_def,
    metrics_on,
    score_columns,
    sum_columns,
)
from cxdata.schema import score_key

FAMILIES: tuple[str, ...] = tuple(BASES)  # the bases, in the order queries ask for them


def count_aggregates(t: ir.Table, families: Sequence[str] = FAMILIES) -> dict[str, ir.Value]:
    """The sufficient statistics of the bases `families` (nps, csat, ces, friction) as Ibis
    aggregates, plus `responses`: each base's n and the measures its metrics read
    (cxdata.metrics). Asking only for the bases a view shows matters: each aggregate is a
    full pass over the column in the engine."""
    aggs: dict[str, ir.Value] = {"responses": t.count()}
    for name in families:
        base = BASES[name]
        values = base.values(t)
        aggs[base.n] = values.count()
        aggs |= {m.name: m.aggregate(values) for m in measures_of(name)}
    return aggs


def grouped_counts(
    t: ir.Table, by: Sequence[str | ir.Value] = (), families: Sequence[str] = FAMILIES
) -> ir.Table:
    """One aggregate query: the count columns per group (all rows if `by` is empty)."""
    aggs = count_aggregates(t, families)
    return t.group_by(list(by)).aggregate(**aggs) if by else t.aggregate(**aggs)


def key_counts(t: ir.Table) -> ir.Table:
    """Responses per score key (cxdata.schema.score_key) over the whole (filtered) table."""
    key = t["_score_key"].name("score_key") if "_score_key" in t.columns else score_key(t)
    return t.group_by(key).aggregate(n=t.count())


def counts_from_keys(keys: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """The counts frame of every base, from responses per score key (`score_key`, `n`, and
    the group columns `by`): each base's values are decoded from the key and every measure
    is counted with the responses as weights. One row (no `by`), or one per group in
    order of first appearance, with the `by` columns first."""
    parts = key_parts(keys["score_key"].to_numpy())
    w = pd.to_numeric(keys["n"]).to_numpy().astype(np.int64)
    out: dict[str, object] = {}
    if by:  # groups numbered in order of first appearance; a missing value is a group
        codes = keys.groupby(list(by), sort=False, dropna=False).ngroup().to_numpy()
        first = keys[list(by)].drop_duplicates().reset_index(drop=True)
        out |= {col: first[col] for col in by}
        size = len(first)
    else:
        codes, size = np.zeros(len(w), np.intp), 1

    def total(x: np.ndarray, *, whole: bool) -> np.ndarray:
        # float even with no rows (bincount then gives int64)
        sums = np.bincount(codes, weights=x.astype("float64"), minlength=size).astype("float64")
        return np.rint(sums).astype(np.int64) if whole else sums

    out["responses"] = total(w, whole=True)
    for name, base in BASES.items():
        values = base.decoded(parts)
        out[base.n] = total(np.where(np.isnan(values), 0, w), whole=True)
        for m in measures_of(name):
            out[m.name] = total(m.weighted(values, w), whole=not m.is_sum)
    return pd.DataFrame(out)


def execute_counts(expr: ir.Table, dims: Sequence[str] = ()) -> pd.DataFrame:
    """Run a counts query; counts come back as int64 / float64 on every backend, and a
    missing value of a group dimension as NOT_SET (filled here, not in the engine: a
    COALESCE on every grouped string costs more than the whole rest of the query)."""
    return counts_frame(expr.to_pandas(), dims)


def counts_frame(df: pd.DataFrame, dims: Sequence[str] = ()) -> pd.DataFrame:
    """A counts query's result (`df`, as Ibis returns it) with the types execute_counts
    promises: count columns int64 / float64 (missing → 0), group dimensions as objects
    with NOT_SET for a missing value."""
    sums = sum_columns()
    fixed: dict[str, pd.Series] = {}
    for col in count_columns():
        if col not in df.columns:
            continue
        values, want = df[col], "float64" if col in sums else "int64"
        # an int64 column has nothing missing: most columns of most results need no work
        if values.dtype != want or (want == "float64" and values.isna().any()):
            fixed[col] = pd.to_numeric(values).fillna(0).astype(want)
    fixed |= {d: df[d].astype("object").where(df[d].notna(), NOT_SET) for d in dims}
    return df.assign(**fixed) if fixed else df.copy(deep=False)


def score_frame(counts: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Counts → every registered metric's value and 95% CI (cxdata.metrics), the family
    extras (passives, CES SD), and per base `<base>_suppressed` (n < min_n: the base's
    scores blanked) and `<base>_low_base`, for each base whose counts are present (one row
    per group)."""
    out: dict[str, np.ndarray] = {}
    # The formulas read plain arrays: a frame's column lookups cost more than the maths.
    arrays = {c: counts[c].to_numpy() for c in count_columns() if c in counts.columns}
    for name, base in BASES.items():
        if base.n not in arrays:
            continue
        n = arrays[base.n]
        scores: dict[str, np.ndarray] = {}
        for m in metrics_on(name):
            scores |= dict(zip(m.columns, m.family.score(arrays, n), strict=True))
            scores |= m.family.extras(arrays, n)
        too_small = n < th.min_n
        for col in score_columns(name):
            scores[col] = np.where(too_small, np.nan, scores[col])
        out |= scores
        out[base.suppressed] = too_small
        out[base.low_base] = ~too_small & (n < th.low_base)
    return pd.concat([counts, pd.DataFrame(out, index=counts.index)], axis=1)


def metric_columns(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Generic columns value, n, ci_low, ci_high, suppressed, low_base for one metric."""
    m = metric_def(metric)
    return pd.DataFrame(
        {
            "value": frame[m.value],
            "n": frame[m.n],
            "ci_low": frame[m.ci_low],
            "ci_high": frame[m.ci_high],
            "suppressed": frame[m.base.suppressed],
            "low_base": frame[m.base.low_base],
        },
        index=frame.index,
    )
