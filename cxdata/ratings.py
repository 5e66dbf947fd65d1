"""Touchpoint ratings: the per-touchpoint sub-ratings of multi-question surveys (an airline
review's seat comfort, cabin staff, ground service, food, wifi…), stored as long rows in
`touchpoint_ratings` (`response_id`, `touchpoint`, `rating`, `scale`; schema.py).

Every rating belongs to a response: the ratings are joined on `response_id` with the
responses inside the filters (`queries.responses`, which applies the store's row
restriction), so a rating is seen exactly when its response is, and any dimension of the
responses can group them. The ratings table's own restriction (Store.table) applies too.

The scale is what the import stored with each rating (`"1-5"`, `"0-10"`, `"0-1"`); it is
never guessed from the values. Ratings on different scales are never mixed: the rows are
per (touchpoint, scale). Where the scale is not stored, the mean is given as it is and the
top-2-box is not computed (`scale_known` False says so).

Per group (DESIGN §4 formulas, cxdata.stats):
- mean rating with 95% CI mean ± 1.96·s/√n (s: sample SD from the pushed-down sum and sum
  of squares), in the rating's own unit;
- top-2-box % = 100·(ratings ≥ high − 1)/n, the two highest points of the scale (9–10 of
  1–10, 4–5 of 1–5; for decimal ratings the top two points' span), with a Wilson 95% CI;
  defined for scales of 4 or more points only (on 0–1 or 1–3 the top two boxes are most
  or all of the scale);
- n = ratings in the group; under `min_n` the values are blanked (`suppressed`), under
  `low_base` flagged (`low_base`), like every other score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata import schema, stats
from cxdata.config import Thresholds, thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.queries import responses
from cxdata.store import Store

RATED = "rated_touchpoint"  # the rated touchpoint's column in results (responses have their own)
MIN_TOP2_POINTS = 4  # top-2-box needs at least this many scale points to mean "top"
UNKNOWN_SCALE = "scale unknown"
_SCALE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[-–—]\s*(-?\d+(?:\.\d+)?)\s*$")

COLUMNS: tuple[str, ...] = (
    RATED, "scale", "scale_low", "scale_high", "scale_known", "n", "mean", "sd",
    "mean_ci_low", "mean_ci_high", "mean_pos", "mean_pos_ci_low", "mean_pos_ci_high", "top2",
    "top2_pct", "top2_ci_low", "top2_ci_high", "top2_defined", "suppressed", "low_base",
)  # fmt: skip


def parse_scale(text: object) -> tuple[float, float] | None:
    """The (low, high) bounds of a stored scale text ("1-5", "0–10"), or None when it is
    missing or not of that form (the scale is then unknown, never guessed)."""
    if not isinstance(text, str):
        return None
    match = _SCALE.match(text)
    if match is None:
        return None
    low, high = float(match.group(1)), float(match.group(2))
    return (low, high) if low < high else None


def scale_label(scale: object) -> str:
    """"1–5" for a known scale, "scale unknown" otherwise."""
    bounds = parse_scale(scale)
    if bounds is None:
        return UNKNOWN_SCALE
    return "–".join(f"{b:g}" for b in bounds)


def has_ratings(store: Store) -> bool:
    """Whether the store holds a touchpoint_ratings dataset (possibly empty)."""
    return store.has(schema.TOUCHPOINT_RATINGS)


def rated_answers(store: Store, filters: Filters) -> ir.Table:
    """The ratings of the responses inside `filters` (and the store's restriction): one row
    per rating with RATED, `rating`, `scale` and every dimension of its response. Raises
    NoData when the store has no ratings dataset, UnknownName for a filter on an unknown
    dimension."""
    r = store.table(schema.TOUCHPOINT_RATINGS)
    rated = r.select(
        r.response_id, r.touchpoint.name(RATED), r.rating.cast("float64").name("rating"),
        r.scale,
    )  # fmt: skip
    resp = responses(store, filters)
    dims = [d for d in store.dimensions() if d in resp.columns]
    joined = rated.join(resp.select("response_id", *dims), "response_id")
    return joined.filter(joined.rating.notnull())


def _top2_hits(t: ir.Table, scales: Sequence[str]) -> ir.Value:
    """Per rating 1 when it is in the top two boxes of its own (known, 4+ point) scale,
    else 0: one CASE branch per stored scale text."""
    branches = []
    for text in scales:
        bounds = parse_scale(text)
        if bounds is not None and top2_defined(*bounds):
            branches.append((t.scale == text) & (t.rating >= bounds[1] - 1))
    if not branches:
        return ibis.literal(0)
    hit = branches[0]
    for b in branches[1:]:
        hit = hit | b
    # CASE with integer branches: PostgreSQL cannot sum a boolean
    return ibis.cases((hit, 1), else_=0)


def top2_defined(low: float, high: float) -> bool:
    """Whether a top-2-box share means something on low–high: 4 or more points."""
    return high - low + 1 >= MIN_TOP2_POINTS


def touchpoint_ratings(
    store: Store,
    filters: Filters,
    by: str | None = None,
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """Mean and top-2-box per rated touchpoint and scale (and per value of the response
    dimension `by`), one row per group, sorted by touchpoint, scale and `by`.

    Columns (COLUMNS, plus `by`): RATED, `scale` (as stored), `scale_low` / `scale_high`
    (NaN when unknown), `scale_known`, `n` (ratings), `mean`, `sd`, `mean_ci_low`,
    `mean_ci_high` (rating units), `mean_pos`, `mean_pos_ci_low`, `mean_pos_ci_high` (the
    mean as % of its scale: 100·(mean − low)/(high − low), so means on different scales
    can share one colour scale or axis; NaN when the scale is unknown), `top2` (count),
    `top2_pct`, `top2_ci_low`, `top2_ci_high` (%; NaN where not defined: unknown or
    < 4-point scale), `top2_defined`, `suppressed` (n < min_n: every value NaN),
    `low_base`. A missing `by` value is
    NOT_SET. Empty frame (same columns) without a ratings dataset or without ratings in
    the filters. UnknownName for an unknown `by`."""
    th = th or thresholds()
    keys = [RATED, "scale", *([by] if by else [])]
    if by is not None and by not in store.dimensions():
        raise UnknownName("dimension", by, store.dimensions())
    if not has_ratings(store):
        return _empty(keys)
    t = rated_answers(store, filters)
    scales = [str(s) for s in t.select("scale").distinct().to_pandas()["scale"].dropna()]
    counts = (
        t.group_by(keys)
        .aggregate(
            n=t.rating.count(),
            total=t.rating.sum(),
            total_sq=(t.rating * t.rating).sum(),
            top2=_top2_hits(t, scales).sum(),
        )
        .to_pandas()
    )
    if counts.empty:
        return _empty(keys)
    return _scored(counts, keys, th)


def _empty(keys: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(dict.fromkeys([*keys, *COLUMNS])))


def _scored(counts: pd.DataFrame, keys: Sequence[str], th: Thresholds) -> pd.DataFrame:
    """Counts per group (n, total, total_sq, top2) → the values, CIs and flags."""
    out = counts.copy()
    out[RATED] = out[RATED].astype("object").where(out[RATED].notna(), NOT_SET)
    out["scale"] = out["scale"].astype("object").where(out["scale"].notna(), "")
    for k in keys[2:]:
        out[k] = out[k].astype("object").where(out[k].notna(), NOT_SET)
    n = pd.to_numeric(out["n"]).fillna(0).astype("int64")
    bounds = [parse_scale(s) for s in out["scale"]]
    out["n"] = n
    out["scale_low"] = [b[0] if b else np.nan for b in bounds]
    out["scale_high"] = [b[1] if b else np.nan for b in bounds]
    out["scale_known"] = [b is not None for b in bounds]
    out["top2_defined"] = [b is not None and top2_defined(*b) for b in bounds]
    mean, sd = stats.mean_and_sd(
        pd.to_numeric(out["total"]).fillna(0), pd.to_numeric(out["total_sq"]).fillna(0), n
    )
    low, high = stats.mean_ci(mean, sd, n)
    top2 = pd.to_numeric(out["top2"]).fillna(0).astype("int64")
    t_low, t_high = stats.wilson_ci(top2, n)
    defined = out["top2_defined"].to_numpy(dtype=bool)
    too_small = n.to_numpy() < th.min_n
    out["top2"] = top2
    lo_b, hi_b = out["scale_low"].to_numpy(), out["scale_high"].to_numpy()

    def pos(v: np.ndarray) -> np.ndarray:
        return 100.0 * (v - lo_b) / (hi_b - lo_b)

    values = {
        "mean": mean, "sd": sd, "mean_ci_low": low, "mean_ci_high": high,
        "mean_pos": pos(mean), "mean_pos_ci_low": pos(low), "mean_pos_ci_high": pos(high),
        "top2_pct": np.where(defined, stats.share_pct(top2, n), np.nan),
        "top2_ci_low": np.where(defined, t_low, np.nan),
        "top2_ci_high": np.where(defined, t_high, np.nan),
    }  # fmt: skip
    for col, v in values.items():
        out[col] = np.where(too_small, np.nan, v)
    out["suppressed"] = too_small
    out["low_base"] = ~too_small & (n.to_numpy() < th.low_base)
    out = out.drop(columns=["total", "total_sq"])
    ordered = out[list(dict.fromkeys([*keys, *COLUMNS]))]
    return ordered.sort_values(list(keys), ignore_index=True)


# The two measures a rating group is shown by → the column that places it on one 0–100
# axis for every scale (colour, journey line) and the flag saying it can be placed.
MEASURES: dict[str, tuple[str, str]] = {
    "top2": ("top2_pct", "top2_defined"),
    "mean": ("mean_pos", "scale_known"),
}


def placeable(frame: pd.DataFrame, measure: str) -> pd.Series:
    """Per row of a touchpoint_ratings frame: whether `measure` ("top2" or "mean") can be
    put on the shared 0–100 axis (top-2-box: a known 4+ point scale; mean: a known scale).
    UnknownName for another measure."""
    if measure not in MEASURES:
        raise UnknownName("rating measure", measure, MEASURES)
    return frame[MEASURES[measure][1]].astype(bool)


def row_label(touchpoint: object, scale: object) -> str:
    """"Seat comfort (1–5)": a rated touchpoint with its scale, as rows are keyed."""
    return f"{touchpoint} ({scale_label(scale)})"
