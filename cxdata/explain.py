"""Why did a metric move: Kitagawa's change decomposition along one dimension.

Between a comparison period (prev) and the current period (now), a metric that is a
base-weighted mean of its answers — every metric in the registry: NPS, a share such as
CSAT top-2-box or friction, the CES mean — is exactly the weighted sum of its segments'
values, value = Σₖ wₖ·rₖ, with wₖ = nₖ/n the segment's share of the metric's base (its
n) and rₖ the segment's value. Kitagawa's decomposition with average weights splits the
change into two parts that add up exactly:

    Δ = Σₖ w̄ₖ·Δrₖ   (within-segment: the segments themselves got better or worse)
      + Σₖ r̄ₖ·Δwₖ   (mix: the answers shifted between segments)

with w̄ₖ, r̄ₖ the averages of the two periods (per segment, w₁r₁ − w₀r₀ = w̄Δr + r̄Δw
holds as an identity). The classic trap reads right: when every segment improves but the
answers move towards the weaker segment, the within effect is positive and the mix effect
negative, whatever the total does.

Rules:

- Segments are a dimension's values (a missing value is NOT_SET, as everywhere). A value
  with fewer than min_n answers on the metric's base in EITHER period is pooled into one
  "Other" segment before decomposing (its values would be noise, and it may not be shown);
  the pool is decomposed like any segment, so the sum stays exact.
- A segment with n = 0 in one period (possible for the pool, and in bootstrap resamples)
  has weight 0 there; its value in that period is taken to be its value in the other
  period, so its within term is 0 and its mix term is r·Δw: a segment that appears (or
  vanishes) is a mix effect, and the sum stays exact. A segment empty in both periods
  contributes nothing.
- Segment counts for both periods come from ONE pushed-down query
  (segments.period_counts); the values come from the registry's family formulas
  (metrics.Metric.family.score) on those counts, so they equal the dashboard's figures.
- Uncertainty: a seeded percentile bootstrap (default B = 200 resamples, kept small for
  speed; 95% intervals) that resamples the answers within each period on the aggregated
  counts — a multinomial draw over the cells segment × score category (for NPS promoters,
  passives, detractors; for a share hits and the rest), n per period fixed. A mean (CES)
  has no category counts here (only its sum and sum of squares are pushed down), so its
  resample draws each segment's n from the multinomial and its mean from the normal
  approximation N(mean, sd²/n*) — a documented approximation.

Two dimensions at once (A × B, e.g. region × customer type): Das Gupta's method for
cross-classified data — P. Das Gupta (1993), *Standardization and Decomposition of Rates: A
User's Manual*, US Census Bureau, Current Population Reports P23-186, ch. 5 (the rate as
the composition-weighted sum of cell rates, the composition re-expressed as a product of
one factor per classifying variable). The value is R = Σ_ab w_ab·r_ab over the cells, w_ab
= n_ab/n, and each cell's share is written as the product of an A factor and a B factor,

    α_ab = √( (n_ab/n_·b) · (n_a·/n) )   (A: share of a within b, times a's share)
    β_ab = √( (n_ab/n_a·) · (n_·b/n) )   (B: share of b within a, times b's share)

so that α_ab·β_ab = w_ab exactly, and α, β are symmetric in A and B. The change splits
into three effects that add up to Δ exactly, each the average of both orders at its step
(Das Gupta's symmetric two-factor formula, applied twice):

    within = Σ_ab w̄_ab·Δr_ab           (rate effect: the cells themselves changed)
    mix_A  = Σ_ab r̄_ab·β̄_ab·Δα_ab      (the answers shifted between values of A)
    mix_B  = Σ_ab r̄_ab·ᾱ_ab·Δβ_ab      (the answers shifted between values of B)

since β̄Δα + ᾱΔβ = Δ(αβ) = Δw per cell (bars: averages of the two periods). The rate
effect is Kitagawa's within along the cells; the composition effect Σ r̄·Δw is split
between A and B. Symmetry: exchanging the periods negates every effect; exchanging A and B
exchanges mix_A and mix_B and leaves within unchanged. When B has one value, β = 1 and
α = w, so mix_B = 0 and mix_A, within are exactly Kitagawa's mix and within along A.

- Pooling on the margins: a value of A with fewer than min_n answers in EITHER period
  (summed over B) goes into A's "Other", likewise for B; cells are not pooled further (that
  would break the cross-classification), so a cell may be small or empty: an empty cell in
  one period takes its value from the other (within 0), as in one dimension. Small cells
  are flagged (`small`) in the cell table.
- Counts come from ONE pushed-down query grouped by period × A × B
  (segments.period_cell_counts); the bootstrap resamples answers over the cells × score
  categories exactly as in one dimension, for the three effects and the total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from cxdata import catalog, config, periods, stats
from cxdata.config import Thresholds
from cxdata.errors import CxError, NoData, UnknownName
from cxdata.filters import Filters
from cxdata.metrics import Metric, counts_needed, metric_def
from cxdata.queries import OTHER
from cxdata.segments import period_cell_counts, period_counts
from cxdata.store import Store

Arr = npt.NDArray[np.float64]

RANKED_COUNTS = "counts"  # rank_dimensions' attrs: the candidates' segment counts it used
# What a cell under min_n does not show (its n and shares are shown).
WITHHELD_IN_SMALL_CELLS = ("value_now", "value_prev", "mix_a", "mix_b", "within", "contribution")
DEFAULT_BOOTSTRAP = 200  # resamples; small for speed (percentile CIs at 95% are rough)
DEFAULT_DAYS = 90  # without dates: the last 90 days of data vs the 90 days before
MAX_SEGMENTS = 50  # a dimension with more distinct values is not a default candidate
Z95 = 1.959963984540054
SEGMENT_COLUMNS: tuple[str, ...] = (
    "segment", "pooled", "members", "n_now", "n_prev", "value_now", "value_prev",
    "weight_now", "weight_prev", "within", "mix", "contribution",
    "within_ci_low", "within_ci_high", "mix_ci_low", "mix_ci_high",
)  # fmt: skip
CELL_COLUMNS: tuple[str, ...] = (
    "a", "b", "n_now", "n_prev", "value_now", "value_prev", "weight_now", "weight_prev",
    "mix_a", "mix_b", "within", "contribution", "small",
)  # fmt: skip


class NotEnoughAnswers(CxError):
    """A period has fewer answers on the metric's base than min_n: no decomposition."""


@dataclass(frozen=True)
class Explanation:
    """A metric's change from the comparison period to the current one, decomposed.

    total = value_now − value_prev = within + mix (to float precision), in the metric's
    unit (NPS points, percentage points, or the CES scale). *_ci are 95% percentile
    bootstrap intervals (None when bootstrap = 0). `segments` has one row per segment
    (SEGMENT_COLUMNS): n per period, value per period (NaN when the segment has no answers
    there), weight (share of the period's n), its within and mix terms with CIs, and
    contribution = within + mix; `pooled` marks the "Other" pool of `members` values under
    min_n. current/previous are the two periods' filters (None from `decompose`)."""

    metric: str
    dimension: str
    value_now: float
    value_prev: float
    total: float
    within: float
    mix: float
    total_ci: tuple[float, float] | None
    within_ci: tuple[float, float] | None
    mix_ci: tuple[float, float] | None
    n_now: int
    n_prev: int
    segments: pd.DataFrame
    min_n: int
    bootstrap: int
    seed: int
    current: Filters | None = None
    previous: Filters | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: scalars rounded to 4 decimals, periods as ISO dates, segments as a
        list of records (NaN → None)."""
        num, ci, period = _num, _ci_list, _period
        rows = []
        for rec in self.segments.to_dict("records"):
            rows.append({
                k: (v if isinstance(v, str | bool) else int(v) if k in ("members", "n_now",
                    "n_prev") else num(v))
                for k, v in rec.items()
            })
        return {
            "metric": self.metric,
            "dimension": self.dimension,
            "current": period(self.current),
            "previous": period(self.previous),
            "where": dict(self.current.dims()) if self.current else {},
            "value_now": num(self.value_now),
            "value_prev": num(self.value_prev),
            "total": num(self.total),
            "within": num(self.within),
            "mix": num(self.mix),
            "total_ci": ci(self.total_ci),
            "within_ci": ci(self.within_ci),
            "mix_ci": ci(self.mix_ci),
            "n_now": self.n_now,
            "n_prev": self.n_prev,
            "min_n": self.min_n,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "method": "Kitagawa (average weights); percentile bootstrap over answers",
            "segments": rows,
        }


@dataclass(frozen=True)
class Explanation2D:
    """A metric's change decomposed along two dimensions at once (Das Gupta, see the module
    docstring): total = value_now − value_prev = mix_a + mix_b + within (to float
    precision), in the metric's unit. `dimensions` is (A, B); mix_a / mix_b are the
    composition effects of A and B, within the rate effect. *_ci are 95% percentile
    bootstrap intervals (None when bootstrap = 0). `cells` has one row per cell with answers
    in either period (CELL_COLUMNS): `a`, `b` its values (after pooling), n and value per
    period (NaN without answers), weight (share of the period's n), its three terms,
    contribution = their sum, and `small` (n under min_n in either period: a noisy value).
    `pooled` is how many values of A and of B were pooled into "Other"."""

    metric: str
    dimensions: tuple[str, str]
    value_now: float
    value_prev: float
    total: float
    mix_a: float
    mix_b: float
    within: float
    total_ci: tuple[float, float] | None
    mix_a_ci: tuple[float, float] | None
    mix_b_ci: tuple[float, float] | None
    within_ci: tuple[float, float] | None
    n_now: int
    n_prev: int
    cells: pd.DataFrame
    pooled: tuple[int, int]
    min_n: int
    bootstrap: int
    seed: int
    current: Filters | None = None
    previous: Filters | None = None

    @property
    def effects(self) -> dict[str, float]:
        """{"mix_<A>": .., "mix_<B>": .., "within": ..}: they add up to `total`."""
        a, b = self.dimensions
        return {f"mix_{a}": self.mix_a, f"mix_{b}": self.mix_b, "within": self.within}

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: scalars rounded to 4 decimals, periods as ISO dates, `effects` and
        `effects_ci` keyed mix_<A>, mix_<B>, within; `cells` as records keyed by the
        dimension names (a, b), mix_<A>, mix_<B> and the other CELL_COLUMNS (NaN → None).
        A `small` cell (under min_n in a period) shows its n only: its values and effects
        are None (noise, and a small group's score must not be shown)."""
        a, b = self.dimensions
        names = {"a": a, "b": b, "mix_a": f"mix_{a}", "mix_b": f"mix_{b}"}
        cells = []
        for rec in self.cells.to_dict("records"):
            if rec["small"]:
                rec |= dict.fromkeys(WITHHELD_IN_SMALL_CELLS, np.nan)
            cells.append({
                names.get(k, k): (v if isinstance(v, str | bool) else int(v) if k in
                                  ("n_now", "n_prev") else _num(v))
                for k, v in rec.items()
            })
        cis = (self.mix_a_ci, self.mix_b_ci, self.within_ci)
        return {
            "metric": self.metric,
            "dimensions": [a, b],
            "current": _period(self.current),
            "previous": _period(self.previous),
            "where": dict(self.current.dims()) if self.current else {},
            "value_now": _num(self.value_now),
            "value_prev": _num(self.value_prev),
            "total": _num(self.total),
            "total_ci": _ci_list(self.total_ci),
            "effects": {k: _num(v) for k, v in self.effects.items()},
            "effects_ci": {k: _ci_list(c) for k, c in zip(self.effects, cis, strict=True)},
            "n_now": self.n_now,
            "n_prev": self.n_prev,
            "pooled": {a: self.pooled[0], b: self.pooled[1]},
            "min_n": self.min_n,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "method": "Das Gupta (1993) cross-classified: rate, A and B composition effects; "
            "percentile bootstrap over answers",
            "cells": cells,
        }


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def _ci_list(c: tuple[float, float] | None) -> list[float | None] | None:
    return None if c is None else [_num(c[0]), _num(c[1])]


def _period(f: Filters | None) -> dict[str, str | None] | None:
    if f is None:
        return None
    return {"from": f.start.isoformat() if f.start else None,
            "to": f.end.isoformat() if f.end else None}


# --- the decomposition itself ------------------------------------------------------------


def kitagawa(n_now: Arr, r_now: Arr, n_prev: Arr, r_prev: Arr) -> tuple[Arr, Arr]:
    """Per-segment (within, mix) terms, arrays shaped (..., K) for K segments (leading axes:
    e.g. bootstrap resamples). n: answers per segment; r: the segment's value (ignored where
    n = 0). Weights are n over the period's total along the last axis. A segment with n = 0
    in one period takes its other period's value there (within 0, mix r·Δw); empty in both:
    0 and 0. Σ within + Σ mix = Σ w_now·r_now − Σ w_prev·r_prev exactly."""
    n1, n0 = np.asarray(n_now, "float64"), np.asarray(n_prev, "float64")
    w1 = _shares(n1)
    w0 = _shares(n0)
    has1, has0 = n1 > 0, n0 > 0
    r1 = np.where(has1, r_now, np.where(has0, r_prev, 0.0))
    r0 = np.where(has0, r_prev, r1)
    within = 0.5 * (w1 + w0) * (r1 - r0)
    mix = 0.5 * (r1 + r0) * (w1 - w0)
    return within, mix


def _shares(n: Arr) -> Arr:
    total = n.sum(axis=-1, keepdims=True)
    return np.divide(n, total, out=np.zeros_like(n), where=total > 0)


def _pooled(counts: pd.DataFrame, m: Metric, min_n: int) -> pd.DataFrame:
    """Wide counts per segment (`<col>_now`, `<col>_prev`), values under min_n in either
    period pooled into OTHER; rows in a stable order (largest first, the pool last).
    Arrays and bincount, not groupby / join: the ranking runs this for every candidate
    dimension on each rerun of the Trends page."""
    cols = list(counts_needed(m.name))
    codes, uniques = pd.factorize(counts["segment"], use_na_sentinel=False)
    labels = np.asarray(uniques, dtype=object)
    period = counts["period"].to_numpy(object)
    wide: dict[str, Arr] = {}
    for side in ("now", "prev"):
        rows = period == side
        for c in cols:
            weights = np.nan_to_num(counts[c].to_numpy("float64")[rows])
            wide[f"{c}_{side}"] = np.bincount(codes[rows], weights, minlength=len(labels))
    n_now, n_prev = wide[f"{m.n}_now"], wide[f"{m.n}_prev"]
    seen = (n_now > 0) | (n_prev > 0)
    small = seen & ((n_now < min_n) | (n_prev < min_n))
    big = np.flatnonzero(seen & ~small)
    text = np.array([str(x) for x in labels[big]], dtype=object)
    order = np.lexsort((text, -(n_now[big] + n_prev[big])))
    big, names = big[order], list(text[order])
    columns = {k: list(v[big]) for k, v in wide.items()}
    pooled, members = [False] * len(big), [1] * len(big)
    if small.any():
        names.append(OTHER if OTHER not in set(names) else f"{OTHER} (pooled)")
        for k, v in wide.items():
            columns[k].append(float(v[small].sum()))
        pooled.append(True)
        members.append(int(small.sum()))
    return pd.DataFrame({
        "segment": pd.Series(names, dtype=object),
        **{k: np.asarray(v, "float64") for k, v in columns.items()},
        "pooled": np.asarray(pooled, bool),
        "members": np.asarray(members, "int64"),
    })


def _side(frame: pd.DataFrame, m: Metric, side: str) -> dict[str, Arr]:
    return {c: frame[f"{c}_{side}"].to_numpy("float64") for c in counts_needed(m.name)}


def _values(m: Metric, counts: Mapping[str, Arr]) -> Arr:
    """The metric's value per row, by the registry's formula (NaN where n = 0)."""
    n = np.asarray(counts[m.n], "float64")
    shape = n.shape
    flat = {k: np.asarray(v, "float64").ravel() for k, v in counts.items()}
    return np.asarray(m.family.score(flat, flat[m.n])[0], "float64").reshape(shape)


def _resample(m: Metric, counts: Mapping[str, Arr], b: int, rng: np.random.Generator) -> dict:
    """`b` bootstrap resamples of one period's per-segment counts, arrays (b, K): the answers
    resampled with replacement, the period's n fixed (see the module docstring)."""
    n = counts[m.n]
    total = int(np.rint(n.sum()))
    k = n.shape[0]
    measures = m.family.measures()
    if total == 0:
        return {c: np.zeros((b, k)) for c in counts}
    if not any(x.is_sum for x in measures):
        # category cells per segment: each count measure (disjoint in the registry: NPS
        # promoters / detractors, a share's hits) and the rest of the segment's answers
        cells = [counts[x.name] for x in measures]
        cells.append(n - np.sum(cells, axis=0))
        p = np.clip(np.stack(cells), 0, None).ravel() / total
        draws = rng.multinomial(total, p / p.sum(), size=b).reshape(b, len(cells), k)
        out = {x.name: draws[:, i, :].astype("float64") for i, x in enumerate(measures)}
        out[m.n] = draws.sum(axis=1).astype("float64")
        return out
    # a mean: n per segment from the multinomial, the mean from N(mean, sd²/n*)
    total_m, squares_m = measures
    mean, sd = stats.mean_and_sd(counts[total_m.name], counts[squares_m.name], n)
    mean, sd = np.nan_to_num(mean), np.nan_to_num(sd)
    n_star = rng.multinomial(total, n / n.sum(), size=b).astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(n_star > 0, sd / np.sqrt(n_star), 0.0)
    mean_star = mean + spread * rng.standard_normal((b, k))
    return {
        m.n: n_star,
        total_m.name: n_star * mean_star,
        squares_m.name: np.maximum(n_star - 1, 0) * sd**2 + n_star * mean_star**2,
    }


def _ci(x: Arr, axis: int = 0) -> Arr:
    return np.nanpercentile(x, [2.5, 97.5], axis=axis)


def decompose(
    counts: pd.DataFrame,
    metric: str = "nps",
    th: Thresholds | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    dimension: str = "segment",
) -> Explanation:
    """Decompose from counts: `counts` has one row per (segment, period) with `segment`,
    `period` ("now" / "prev") and the metric's count columns (metrics.counts_needed; a
    segment absent from a period has n = 0 there). `bootstrap` resamples (0: no CIs) with
    `seed`. Raises UnknownName for an unknown metric, NotEnoughAnswers when either period
    has fewer than min_n answers on the metric's base."""
    m = metric_def(metric)
    th = th or config.thresholds()
    return _decomposed(_pooled(counts, m, th.min_n), m, th, bootstrap, seed, dimension)


def _decomposed(frame: pd.DataFrame, m: Metric, th: Thresholds, bootstrap: int, seed: int,
                dimension: str) -> Explanation:
    """decompose on counts already pooled by _pooled (`frame`)."""
    now, prev = _side(frame, m, "now"), _side(frame, m, "prev")
    n_now, n_prev = now[m.n], prev[m.n]
    for label, n in (("current", n_now), ("comparison", n_prev)):
        if n.sum() < th.min_n:
            raise NotEnoughAnswers(
                f"not enough answers for {m.short_label} in the {label} period "
                f"(n = {int(n.sum())}, at least {th.min_n} needed)"
            )
    r_now, r_prev = _values(m, now), _values(m, prev)
    within, mix = kitagawa(n_now, r_now, n_prev, r_prev)
    # the totals by the registry's formula on the summed counts: the dashboard's figures
    value_now = float(_values(m, {c: np.array([v.sum()]) for c, v in now.items()})[0])
    value_prev = float(_values(m, {c: np.array([v.sum()]) for c, v in prev.items()})[0])
    seg = pd.DataFrame({
        "segment": frame["segment"].astype(str),
        "pooled": frame["pooled"].astype(bool),
        "members": frame["members"].astype("int64"),
        "n_now": n_now.astype("int64"),
        "n_prev": n_prev.astype("int64"),
        "value_now": r_now,
        "value_prev": r_prev,
        "weight_now": _shares(n_now),
        "weight_prev": _shares(n_prev),
        "within": within,
        "mix": mix,
        "contribution": within + mix,
    })
    cis: dict[str, tuple[float, float] | None] = {"total": None, "within": None, "mix": None}
    nan = np.full(len(seg), np.nan)
    seg_ci = {c: nan for c in SEGMENT_COLUMNS[-4:]}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        a, b = _resample(m, now, bootstrap, rng), _resample(m, prev, bootstrap, rng)
        w_star, m_star = kitagawa(a[m.n], _values(m, a), b[m.n], _values(m, b))
        tw, tm = w_star.sum(axis=1), m_star.sum(axis=1)
        for name, x in (("total", tw + tm), ("within", tw), ("mix", tm)):
            low, high = _ci(x)
            cis[name] = (float(low), float(high))
        (seg_ci["within_ci_low"], seg_ci["within_ci_high"]) = _ci(w_star)
        (seg_ci["mix_ci_low"], seg_ci["mix_ci_high"]) = _ci(m_star)
    seg = seg.assign(**seg_ci)
    return Explanation(
        metric=m.name,
        dimension=dimension,
        value_now=value_now,
        value_prev=value_prev,
        total=value_now - value_prev,
        within=float(within.sum()),
        mix=float(mix.sum()),
        total_ci=cis["total"],
        within_ci=cis["within"],
        mix_ci=cis["mix"],
        n_now=int(n_now.sum()),
        n_prev=int(n_prev.sum()),
        segments=seg[list(SEGMENT_COLUMNS)],
        min_n=th.min_n,
        bootstrap=max(0, int(bootstrap)),
        seed=seed,
    )


# --- two dimensions at once: Das Gupta ------------------------------------------------------


def das_gupta(n_now: Arr, r_now: Arr, n_prev: Arr, r_prev: Arr) -> tuple[Arr, Arr, Arr]:
    """Per-cell (mix_a, mix_b, within) terms of Das Gupta's cross-classified decomposition
    (module docstring), arrays shaped (..., I, J) for I values of A × J values of B (leading
    axes: e.g. bootstrap resamples). n: answers per cell; r: the cell's value (ignored where
    n = 0). A cell with n = 0 in one period takes its other period's value there, as in
    `kitagawa`; its factors α, β are 0 there. The three sums add up to
    Σ w_now·r_now − Σ w_prev·r_prev (to float precision: α·β = w up to rounding)."""
    n1, n0 = np.asarray(n_now, "float64"), np.asarray(n_prev, "float64")
    has1, has0 = n1 > 0, n0 > 0
    r1 = np.where(has1, r_now, np.where(has0, r_prev, 0.0))
    r0 = np.where(has0, r_prev, r1)
    w1, w0 = _cell_shares(n1), _cell_shares(n0)
    (a1, b1), (a0, b0) = _factors(n1), _factors(n0)
    r_bar = 0.5 * (r1 + r0)
    within = 0.5 * (w1 + w0) * (r1 - r0)
    mix_a = r_bar * 0.5 * (b1 + b0) * (a1 - a0)
    mix_b = r_bar * 0.5 * (a1 + a0) * (b1 - b0)
    return mix_a, mix_b, within


def _cell_shares(n: Arr) -> Arr:
    total = n.sum(axis=(-2, -1), keepdims=True)
    return np.divide(n, total, out=np.zeros_like(n), where=total > 0)


def _factors(n: Arr) -> tuple[Arr, Arr]:
    """Das Gupta's A and B factors of a cell table n (..., I, J): α = √(n·n_a·/(n_·b·N)),
    β = √(n·n_·b/(n_a··N)), 0 for an empty cell (whose margins may be empty too)."""
    total = n.sum(axis=(-2, -1), keepdims=True)
    row = n.sum(axis=-1, keepdims=True)  # n_a· (A's margin)
    col = n.sum(axis=-2, keepdims=True)  # n_·b (B's margin)
    full = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(full, np.sqrt(n * row / (col * total)), 0.0)
        beta = np.where(full, np.sqrt(n * col / (row * total)), 0.0)
    return alpha, beta


def _pool_margin(counts: pd.DataFrame, dim: str, m: Metric, min_n: int) -> tuple[dict, int]:
    """{value: label} for one dimension of cell counts: values under min_n answers (summed
    over the other dimension) in either period pooled into OTHER; labels ordered largest
    first, the pool last (dict order). Values without answers in both periods are left out.
    Also returns how many values were pooled."""
    wide = counts.groupby([dim, "period"])[m.n].sum().unstack("period")
    wide = wide.reindex(columns=["now", "prev"]).fillna(0.0)
    wide = wide[(wide["now"] > 0) | (wide["prev"] > 0)]
    small = (wide["now"] < min_n) | (wide["prev"] < min_n)
    big = wide[~small].assign(_size=wide["now"] + wide["prev"]).reset_index()
    big = big.sort_values(["_size", dim], ascending=[False, True])
    labels = {str(v): str(v) for v in big[dim]}
    if small.any():
        pool = OTHER if OTHER not in labels else f"{OTHER} (pooled)"
        labels |= {str(v): pool for v in wide.index[small.to_numpy()]}
    return labels, int(small.sum())


def decompose_two(
    counts: pd.DataFrame,
    dims: Sequence[str],
    metric: str = "nps",
    th: Thresholds | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Explanation2D:
    """Decompose from cell counts along two dimensions (A, B) = `dims`: `counts` has one row
    per (A value, B value, period) with columns named by the two dimensions, `period`
    ("now" / "prev") and the metric's count columns (segments.period_cell_counts; an absent
    cell has n = 0). `bootstrap` resamples (0: no CIs) with `seed`. Raises CxError unless
    `dims` are two different names, UnknownName for an unknown metric, NotEnoughAnswers
    when either period has fewer than min_n answers on the metric's base."""
    if len(dims) != 2 or dims[0] == dims[1]:
        raise CxError(f"Das Gupta's decomposition takes two different dimensions, got {dims}")
    a, b = str(dims[0]), str(dims[1])
    m = metric_def(metric)
    th = th or config.thresholds()
    cols = list(counts_needed(m.name))
    label_a, pooled_a = _pool_margin(counts, a, m, th.min_n)
    label_b, pooled_b = _pool_margin(counts, b, m, th.min_n)
    rows_a, rows_b = list(dict.fromkeys(label_a.values())), list(dict.fromkeys(label_b.values()))
    frame = counts.assign(
        _a=counts[a].astype(str).map(label_a), _b=counts[b].astype(str).map(label_b)
    ).dropna(subset=["_a", "_b"])  # values without answers on this base in both periods
    grouped = frame.groupby(["period", "_a", "_b"])[cols].sum()
    full = pd.MultiIndex.from_product([rows_a, rows_b], names=["_a", "_b"])
    shape = (len(rows_a), len(rows_b))

    def side(label: str) -> dict[str, Arr]:
        part = grouped.xs(label, level="period") if label in grouped.index.levels[0] else None
        part = (pd.DataFrame(0.0, index=full, columns=cols) if part is None
                else part.reindex(full).fillna(0.0))
        return {c: part[c].to_numpy("float64").reshape(shape) for c in cols}

    now, prev = side("now"), side("prev")
    n_now, n_prev = now[m.n], prev[m.n]
    for label, n in (("current", n_now), ("comparison", n_prev)):
        if n.sum() < th.min_n:
            raise NotEnoughAnswers(
                f"not enough answers for {m.short_label} in the {label} period "
                f"(n = {int(n.sum())}, at least {th.min_n} needed)"
            )
    r_now, r_prev = _values(m, now), _values(m, prev)
    mix_a, mix_b, within = das_gupta(n_now, r_now, n_prev, r_prev)
    value_now = float(_values(m, {c: np.array([v.sum()]) for c, v in now.items()})[0])
    value_prev = float(_values(m, {c: np.array([v.sum()]) for c, v in prev.items()})[0])
    keep = ((n_now > 0) | (n_prev > 0)).ravel()
    flat = {"n_now": n_now, "n_prev": n_prev, "value_now": r_now, "value_prev": r_prev,
            "weight_now": _cell_shares(n_now), "weight_prev": _cell_shares(n_prev),
            "mix_a": mix_a, "mix_b": mix_b, "within": within,
            "contribution": mix_a + mix_b + within}
    cells = pd.DataFrame({
        "a": np.repeat(rows_a, len(rows_b)),
        "b": np.tile(rows_b, len(rows_a)),
        **{k: v.ravel() for k, v in flat.items()},
    })
    cells["small"] = ((cells["n_now"] < th.min_n) | (cells["n_prev"] < th.min_n)).astype(bool)
    cells = cells[keep].astype({"n_now": "int64", "n_prev": "int64"}).reset_index(drop=True)
    cis: dict[str, tuple[float, float] | None] = dict.fromkeys(
        ("total", "mix_a", "mix_b", "within"))
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        star = []
        for counts_side in (now, prev):
            draw = _resample(m, {c: v.ravel() for c, v in counts_side.items()}, bootstrap, rng)
            star.append({c: v.reshape(bootstrap, *shape) for c, v in draw.items()})
        s_now, s_prev = star
        terms = das_gupta(s_now[m.n], _values(m, s_now), s_prev[m.n], _values(m, s_prev))
        ta, tb, tw = (t.sum(axis=(-2, -1)) for t in terms)
        for name, x in (("total", ta + tb + tw), ("mix_a", ta), ("mix_b", tb), ("within", tw)):
            low, high = _ci(x)
            cis[name] = (float(low), float(high))
    return Explanation2D(
        metric=m.name,
        dimensions=(a, b),
        value_now=value_now,
        value_prev=value_prev,
        total=value_now - value_prev,
        mix_a=float(mix_a.sum()),
        mix_b=float(mix_b.sum()),
        within=float(within.sum()),
        total_ci=cis["total"],
        mix_a_ci=cis["mix_a"],
        mix_b_ci=cis["mix_b"],
        within_ci=cis["within"],
        n_now=int(n_now.sum()),
        n_prev=int(n_prev.sum()),
        cells=cells[list(CELL_COLUMNS)],
        pooled=(pooled_a, pooled_b),
        min_n=th.min_n,
        bootstrap=max(0, int(bootstrap)),
        seed=seed,
    )


# --- on a store --------------------------------------------------------------------------


def comparison_filters(
    store: Store, filters: Filters, days: int = DEFAULT_DAYS
) -> tuple[Filters, Filters]:
    """(current, previous) for an explanation: `filters` with its date range completed and
    the same-length range just before it (periods.previous_period), same dimension filters.
    A missing end is the last day with data; a missing start is `days` days (inclusive)
    before the end — without dates: the last 90 days of data vs the 90 days before. Raises
    NoData when the store has no responses."""
    span = catalog.date_span(store)
    if span is None:
        raise NoData("no responses stored yet")
    end = filters.end or span[1]
    start = filters.start or end - dt.timedelta(days=days - 1)
    if start > end:
        raise ValueError(f"date range is empty: start {start} is after end {end}")
    current = filters.with_dates(start, end)
    return current, filters.with_dates(*periods.previous_period(start, end))


def _by_dims(by: str | Sequence[str]) -> list[str]:
    dims = [by] if isinstance(by, str) else list(by)
    if len(dims) not in (1, 2):
        raise CxError(f"explain takes one or two dimensions, got {len(dims)}")
    if len(dims) == 2 and dims[0] == dims[1]:
        raise CxError(f"explain takes two different dimensions, got {dims[0]} twice")
    return dims


def _segment_counts(store: Store, current: Filters, previous: Filters, dims: Sequence[str],
                    metric: str) -> pd.DataFrame:
    counts = period_counts(store, current, previous, dims, counts_needed(metric))
    return counts.rename(columns={"value": "segment"})


@overload
def explain(
    store: Store, current: Filters, previous: Filters, metric: str = ...,
    by: str | None = ..., th: Thresholds | None = ..., bootstrap: int = ..., seed: int = ...,
) -> Explanation: ...


@overload
def explain(
    store: Store, current: Filters, previous: Filters, metric: str = ...,
    by: Sequence[str] = ..., th: Thresholds | None = ..., bootstrap: int = ...,
    seed: int = ...,
) -> Explanation | Explanation2D: ...


def explain(
    store: Store,
    current: Filters,
    previous: Filters,
    metric: str = "nps",
    by: str | Sequence[str] | None = None,
    th: Thresholds | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Explanation | Explanation2D:
    """Why `metric` moved from `previous` to `current` (two Filters, e.g. from
    comparison_filters): the decomposition along dimension `by` (default: the dimension
    that explains most, see rank_dimensions), an Explanation. With two dimensions
    (`by` = [A, B]) Das Gupta's decomposition into A-mix, B-mix and within effects, an
    Explanation2D (decompose_two). One pushed-down query for the counts (two when the
    dimension is chosen). Raises UnknownName for an unknown metric or dimension, CxError
    for more than two (or twice the same) dimensions and NotEnoughAnswers when a period
    has fewer than min_n answers."""
    metric_def(metric)
    th = th or config.thresholds()
    if by is not None and len(dims := _by_dims(by)) == 2:
        # period_cell_counts raises UnknownName for an unknown dimension
        counts = period_cell_counts(store, current, previous, dims, counts_needed(metric))
        two = decompose_two(counts, dims, metric, th, bootstrap, seed)
        return replace(two, current=current, previous=previous)
    if by is None:
        ranking = rank_dimensions(store, current, previous, metric, th)
        if ranking.empty:
            raise CxError("no dimension to explain the change by (none has 2–"
                          f"{MAX_SEGMENTS} values)")
        return explain_ranked(ranking, str(ranking["dimension"].iloc[0]), metric, current,
                              previous, th, bootstrap, seed)
    dim = _by_dims(by)[0]
    allowed = store.dimensions()
    if dim not in allowed:
        raise UnknownName("dimension", dim, allowed)
    counts = _segment_counts(store, current, previous, [dim], metric)
    result = decompose(counts, metric, th, bootstrap, seed, dim)
    return replace(result, current=current, previous=previous)


def explain_ranked(
    ranking: pd.DataFrame,
    dim: str,
    metric: str,
    current: Filters,
    previous: Filters,
    th: Thresholds | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Explanation:
    """explain(store, current, previous, metric, by=dim), the same Explanation, from the
    segment counts rank_dimensions fetched for the same filters and metric (`ranking`: its
    frame, with attrs[RANKED_COUNTS]) instead of a query. Raises KeyError when `dim` is
    not a ranked candidate, NotEnoughAnswers as explain does."""
    ranked = ranking.attrs[RANKED_COUNTS]
    if dim not in set(ranking["dimension"]):
        raise KeyError(f"{dim!r} is not among the ranked dimensions")
    counts = ranked[ranked["dimension"] == dim]
    result = decompose(counts, metric, th or config.thresholds(), bootstrap, seed, dim)
    return replace(result, current=current, previous=previous)


def rank_dimensions(
    store: Store,
    current: Filters,
    previous: Filters,
    metric: str = "nps",
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """The candidate dimensions ranked by how much of the change they explain: one row per
    dimension with `dimension`, `segments` (after pooling), `within`, `mix`, `total` and
    `explained`, largest `explained` first (ties: the store's dimension order).

    Candidates: the store's dimensions with 2..MAX_SEGMENTS distinct values (ids and free
    text are never dimensions). explained = |mix| + Σₖ w̄ₖ·max(0, |Δrₖ − within| −
    1.96·se(Δrₖ)), in the metric's unit: the mix effect plus the part of each segment's
    change that departs from the change common to all segments (the overall within effect)
    by more than its own noise (se from the registry's 95% CI half-widths of both periods).
    A dimension along which every segment moved alike explains nothing (its within effect is
    the same change seen everywhere); one where a few segments moved, or the mix shifted,
    explains the change. One query for the cardinalities (once per lake snapshot), one for
    all candidates' counts, which the frame keeps in attrs[RANKED_COUNTS] for explain."""
    m = metric_def(metric)
    th = th or config.thresholds()
    card = catalog.dimension_cardinality(store)
    dims = [d for d in store.dimensions() if 2 <= card.get(d, 0) <= MAX_SEGMENTS]
    cols = ["dimension", "segments", "within", "mix", "total", "explained"]
    if not dims:
        return pd.DataFrame(columns=cols)
    counts = _segment_counts(store, current, previous, dims, metric)
    rows = []
    for dim in dims:
        part = counts[counts["dimension"] == dim]
        if part.empty:
            continue
        frame = _pooled(part, m, th.min_n)
        try:
            res = _decomposed(frame, m, th, bootstrap=0, seed=0, dimension=dim)
        except NotEnoughAnswers:
            continue
        seg = res.segments
        if len(seg) < 2:
            rows.append((dim, len(seg), res.within, res.mix, res.total, abs(res.mix)))
            continue
        se = np.sqrt(_se2(m, _side(frame, m, "now")) + _se2(m, _side(frame, m, "prev")))
        delta = np.nan_to_num((seg["value_now"] - seg["value_prev"]).to_numpy())
        both = (seg["n_now"].to_numpy() > 0) & (seg["n_prev"].to_numpy() > 0)
        w_bar = 0.5 * (seg["weight_now"] + seg["weight_prev"]).to_numpy()
        excess = np.where(both, np.maximum(0.0, np.abs(delta - res.within) - Z95 * se), 0.0)
        explained = abs(res.mix) + float(np.sum(w_bar * np.nan_to_num(excess)))
        rows.append((dim, len(seg), res.within, res.mix, res.total, explained))
    order = {d: i for i, d in enumerate(dims)}
    out = pd.DataFrame(rows, columns=cols)
    out["_order"] = out["dimension"].map(order)
    out = out.sort_values(["explained", "_order"], ascending=[False, True])
    out = out.drop(columns="_order").reset_index(drop=True)
    out.attrs[RANKED_COUNTS] = counts
    return out


def _se2(m: Metric, counts: Mapping[str, Arr]) -> Arr:
    """The squared standard error of each segment's value: from the registry's 95% CI."""
    _, low, high = m.family.score(counts, counts[m.n])
    return np.nan_to_num(((np.asarray(high) - np.asarray(low)) / (2 * Z95)) ** 2)
