"""Key driver analysis: which touchpoint ratings and comment themes move the outcome.

Outcome y: the 0–10 recommend score (`nps`), CSAT (`csat`), or a rated touchpoint (e.g.
an airline review's overall "Rating" 1–10, which the import keeps as a rating). Drivers:
the touchpoint ratings (`touchpoint_ratings`, one column per rated touchpoint and scale,
the response's mean rating there) and the comment theme flags (`comment_themes`: 1 when
the response's analysed comment mentions the theme, 0 when it was analysed and does not).

Model: the linear regression of y on the drivers; its R² is split between the drivers.

- **Complete cases** (not pairwise): an answer counts when it has the outcome and every
  driver (a rating for each rated driver, an analysed comment when themes are drivers).
  Pairwise correlations can give a matrix that is no correlation matrix (R² > 1, negative
  importances); complete cases cannot. `n` is the number of complete cases; each
  driver's own `n` is the answers with the outcome and that driver (what it would have
  alone), so a driver that many skip and that shrinks the analysis shows.
- **Importance** — Shapley value / LMG (Lindeman, Merenda & Gold 1980; general dominance,
  Budescu 1993): a driver's average gain in R² when added to a subset of the others, over
  all orders. Exact for up to EXACT_MAX (12) drivers: R² of all 2^k subsets from the
  correlation matrix (R²(S) = r_ySᵀ R_SS⁻¹ r_yS, computed by sweeping one driver in at a
  time, depth first). More drivers: Johnson's (2000) relative weights, labelled an
  approximation. Importances sum to R² in both. A driver that is a copy (or a linear
  combination) of others adds nothing once they are in (the sweep skips a zero pivot),
  so copies split their share equally.
- **Uncertainty** — percentile bootstrap (B = 1,000 by default, seeded) over answers:
  95% CI per importance, and the share of resamples in which each driver is among the top
  three (the ranking's stability). Resampling runs on the distinct answer patterns
  (outcome × drivers) with their counts, drawn from the multinomial: exactly resampling
  every answer, however many. When there are more than BOOTSTRAP_ROWS distinct patterns,
  the bootstrap runs on a seeded hash sample of BOOTSTRAP_ROWS answers (`bootstrap_rows`
  says how many; the point estimates stay on all answers).
- **Performance**: a rating's top-2-box % (the two highest points of its own scale,
  cxdata.ratings; NaN when its scale is unknown or under 4 points); a theme's share of the
  answers mentioning it (%). Both over the complete cases.
- Fewer than `min_n` (default 150) complete cases: NotEnoughAnswers, no numbers.

Queries (all pushed down; the ratings and themes are pivoted in the engine by conditional
aggregates grouped by response_id): one for the candidate drivers and their n, one for
the answer patterns grouped with their counts (at most BOOTSTRAP_ROWS + 1 rows come back).
Only when the patterns are more: one for the moments (n, Σx, Σxxᵀ: a k×k matrix) and one
for the bootstrap sample. When the drivers can only be themes (no ratings stored or used),
ONE query does it all: the analysed answers grouped by (outcome, their themes as bit
masks) with counts; the candidates, the choice and the patterns follow from it (plus one
small query for the theme ids). Never imports streamlit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from cxdata import ratings, schema
from cxdata.errors import CxError, NoData, UnknownName
from cxdata.filters import Filters
from cxdata.queries import responses
from cxdata.store import Store
from cxdata.voc import masked, tables
from cxdata.voc.catalogue import label_of, theme_labels

Arr = npt.NDArray[np.float64]

DEFAULT_BOOTSTRAP = 1000
DEFAULT_MIN_N = 150
EXACT_MAX = 12  # 2^12 = 4,096 subsets: exact Shapley; beyond, relative weights
BOOTSTRAP_ROWS = 200_000  # more distinct answer patterns: bootstrap on a sample this big
MIN_MENTIONS = 30  # a theme mentioned (or not mentioned) less often is no driver
MAX_DRIVERS = 30  # most answered ratings, then most mentioned themes
# a rating answered by fewer than this share of the outcome's answers is no driver: as
# complete cases it would throw most answers away (an airline's wifi, rated by 40%)
MIN_COVERAGE = 0.5
TOP = 3
OUTCOMES: tuple[str, ...] = ("nps", "csat")
SHAPLEY = "shapley exact"
RELATIVE_WEIGHTS = "relative weights approximation"
COLUMNS: tuple[str, ...] = (
    "driver", "label", "kind", "importance", "share", "ci_low", "ci_high", "top3_share",
    "performance_top2_pct", "performance", "n",
)  # fmt: skip
_PIVOT = 1e-10  # a pivot this small: the driver is a linear combination of those in
_BLOCK = 64  # correlation matrices swept at once by subset_r2 (measured: 50–100 is fastest)


class NotEnoughAnswers(CxError):
    """Fewer complete answers than the minimum n: no driver analysis."""


@dataclass(frozen=True)
class Drivers:
    """A key driver analysis.

    `drivers` has one row per driver (COLUMNS), most important first: `driver` (rated
    touchpoint, or theme id), `label`, `kind` ("rating" | "theme"), `importance` (its part
    of R², 0–1; they sum to `r2`), `share` (importance / r2), `ci_low` / `ci_high` (95%
    percentile bootstrap of the importance; NaN without bootstrap), `top3_share` (share of
    resamples in which it is among the top 3, 0–1), `performance_top2_pct` (top-2-box %
    of a rating, share % of answers mentioning a theme; NaN for a rating whose scale has no
    top-2-box), `performance` (what that number is), `n` (answers with the outcome and
    this driver). `n` (complete cases) is what the model is fitted on."""

    outcome: str
    n: int
    r2: float
    drivers: pd.DataFrame
    method: str
    bootstrap: int
    seed: int
    bootstrap_rows: int  # answers the bootstrap resampled (n unless sampled)
    sampled: bool
    min_n: int
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (driver, why left out)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: numbers rounded to 6 decimals, NaN → None, drivers as records."""

        def num(x: object) -> float | None:
            return None if x is None or not np.isfinite(float(x)) else round(float(x), 6)  # type: ignore[arg-type]

        rows = [
            {k: (int(v) if k == "n" else v if isinstance(v, str) else num(v))
             for k, v in rec.items()}
            for rec in self.drivers.to_dict("records")
        ]  # fmt: skip
        return {
            "outcome": self.outcome,
            "n": self.n,
            "r2": num(self.r2),
            "method": self.method,
            "cases": "complete cases: answers with the outcome and every driver",
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "bootstrap_rows": self.bootstrap_rows,
            "bootstrap_sampled": self.sampled,
            "min_n": self.min_n,
            "drivers": rows,
            "skipped": [{"driver": d, "reason": r} for d, r in self.skipped],
        }


# --- the mathematics: on correlation matrices, batched over leading axes ------------------


def correlation(n: Arr, sums: Arr, cross: Arr) -> Arr:
    """Correlation matrices (..., p, p) from moments: n (...), Σx (..., p), Σxxᵀ (..., p, p).
    A column without variance gets correlation 0 with every other (1 with itself): it can
    explain nothing."""
    n = np.asarray(n, "float64")[..., None]
    mean = sums / n
    cov = cross / n[..., None] - mean[..., :, None] * mean[..., None, :]
    var = np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None)
    sd = np.sqrt(var)
    ok = sd > 1e-12 * np.maximum(1.0, np.abs(mean))
    inv = np.where(ok, 1.0 / np.where(ok, sd, 1.0), 0.0)
    r = cov * inv[..., :, None] * inv[..., None, :]
    p = r.shape[-1]
    eye = np.eye(p, dtype=bool)
    r = np.where(eye, 1.0, np.clip(r, -1.0, 1.0))
    return r


def subset_r2(r: Arr) -> Arr:
    """R² of y on every subset of the k drivers: `r` (..., p, p) correlation matrices with
    the drivers first and y last (p = k + 1); returns (..., 2^k), index = bitmask of the
    drivers in the subset (bit j: driver j). Sweep: adding driver j to S partials it out of
    the residual matrix, and R²(S ∪ j) = 1 − residual var of y. A zero pivot (j a
    combination of S) leaves everything as it is. Runs in blocks of _BLOCK matrices (the
    working set stays in cache), batched over every subset with the same last driver."""
    r = np.asarray(r, "float64")
    k = r.shape[-1] - 1
    flat = r.reshape(-1, k + 1, k + 1)
    out = np.zeros((flat.shape[0], 1 << k))
    for lo in range(0, flat.shape[0], _BLOCK):
        out[lo : lo + _BLOCK] = _subset_r2_block(flat[lo : lo + _BLOCK]).T
    return out.reshape(*r.shape[:-2], 1 << k)


def _subset_r2_block(flat: Arr) -> Arr:
    """subset_r2 of (b, p, p) matrices, as (2^k, b). The subsets are grouped by their last
    driver j: group j holds the 2^j residual matrices restricted to drivers j+1.. and y
    (all a later sweep reads), stacked as (2^j, k−j, k−j, b) with b innermost; each group
    is swept by every later driver at once, so numpy is called O(k²) times, not O(2^k)."""
    b, k = flat.shape[0], flat.shape[-1] - 1
    out = np.zeros((1 << k, b))
    groups = [np.empty((1 << j, k - j, k - j, b)) for j in range(k - 1)]
    masks = [np.empty(1 << j, dtype=np.int64) for j in range(k - 1)]
    filled = [0] * max(0, k - 1)

    def sweep(res: Arr, mask: npt.NDArray[np.int64], first: int) -> None:
        # res (c, m, m, b): residuals over drivers first.. and y (last) of c subsets
        c, m = res.shape[0], res.shape[1]
        for t in range(m - 1):
            j = first + t
            pivot = res[:, t, t]
            ok = pivot > _PIVOT
            col = res[:, t + 1 :, t] / np.where(ok, pivot, 1.0)[:, None]
            col = np.where(ok[:, None], col, 0.0)
            new = mask | (1 << j)
            if j + 1 < k:
                f = filled[j]
                child = groups[j][f : f + c]
                np.multiply(col[:, :, None], res[:, None, t, t + 1 :], out=child)
                np.subtract(res[:, t + 1 :, t + 1 :], child, out=child)
                masks[j][f : f + c] = new
                filled[j] = f + c
                out[new] = 1.0 - child[:, -1, -1]
            else:  # the last driver: only y's residual variance is needed
                out[new] = 1.0 - (res[:, -1, -1] - col[:, -1] * res[:, t, -1])

    sweep(np.ascontiguousarray(np.moveaxis(flat, 0, -1))[None], np.zeros(1, np.int64), 0)
    for g in range(k - 1):
        res, mask = groups[g], masks[g]
        groups[g] = np.empty(0)  # free it once swept
        sweep(res, mask, g + 1)
    return out


@functools.lru_cache(maxsize=EXACT_MAX + 1)
def _shapley_matrix(k: int) -> Arr:
    """(2^k, k): importance_j = R²(subsets) @ M[:, j], M holding +w(|S|) at S ∪ j and
    −w(|S|) at S for every S ∌ j (w the Shapley weight of a subset size)."""
    masks = np.arange(1 << k)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k)
                       if s < k else 0.0 for s in range(k + 1)])  # fmt: skip
    out = np.zeros((1 << k, k))
    for j in range(k):
        without = masks[(masks >> j) & 1 == 0]
        out[without | (1 << j), j] += weight[size[without]]
        out[without, j] -= weight[size[without]]
    out.flags.writeable = False
    return out


def shapley(r: Arr) -> Arr:
    """Exact Shapley / LMG importances (..., k) of the k drivers from correlation matrices
    (..., k+1, k+1), y last. importance_j = Σ_{S ∌ j} |S|!(k−|S|−1)!/k! · (R²(S∪j) − R²(S));
    they sum to the full model's R²."""
    k = r.shape[-1] - 1
    return subset_r2(r) @ _shapley_matrix(k)


def relative_weights(r: Arr) -> Arr:
    """Johnson's (2000) relative weights (..., k): y regressed on the orthogonal
    counterparts Z = X·R_XX^(−1/2) of the drivers, each Z's R² share given back to the
    drivers by the squared loadings R_XX^(1/2). They sum to R² (a pseudo-inverse for a
    singular R_XX)."""
    rxx, rxy = r[..., :-1, :-1], r[..., :-1, -1]
    vals, vecs = np.linalg.eigh(rxx)
    vals = np.clip(vals, 0.0, None)
    keep = vals > _PIVOT * np.max(vals, axis=-1, keepdims=True)
    root = np.sqrt(vals)
    inv_root = np.where(keep, 1.0 / np.where(keep, root, 1.0), 0.0)
    lam = (vecs * root[..., None, :]) @ np.swapaxes(vecs, -1, -2)  # R_XX^(1/2)
    lam_inv = (vecs * inv_root[..., None, :]) @ np.swapaxes(vecs, -1, -2)
    beta = (lam_inv @ rxy[..., None])[..., 0]
    return ((lam**2) @ (beta**2)[..., None])[..., 0]


def importance(r: Arr) -> tuple[Arr, str]:
    """(importances (..., k), method): exact Shapley up to EXACT_MAX drivers, relative
    weights beyond."""
    k = r.shape[-1] - 1
    return (shapley(r), SHAPLEY) if k <= EXACT_MAX else (relative_weights(r), RELATIVE_WEIGHTS)


def r_squared(r: Arr) -> Arr:
    """The full model's R² (...) from correlation matrices, y last (pseudo-inverse)."""
    rxx, rxy = r[..., :-1, :-1], r[..., :-1, -1]
    return np.einsum("...i,...i->...", rxy, (np.linalg.pinv(rxx, hermitian=True)
                                             @ rxy[..., None])[..., 0])


# --- resampling --------------------------------------------------------------------------


def _moments(z: Arr, w: Arr) -> tuple[Arr, Arr, Arr]:
    """Weighted moments of the rows of z (m, p) for weights w (..., m)."""
    p = z.shape[1]
    iu = np.triu_indices(p)
    prods = z[:, iu[0]] * z[:, iu[1]]  # (m, p(p+1)/2): one GEMM gives every Σ x_i x_j
    upper = w @ prods
    cross = np.zeros((*w.shape[:-1], p, p))
    cross[..., iu[0], iu[1]] = upper
    cross[..., iu[1], iu[0]] = upper
    return w.sum(axis=-1), w @ z, cross


def _resample_weights(counts: Arr, b: int, rng: np.random.Generator) -> Arr:
    """b bootstrap resamples of the answers behind `counts` (rows × how many answers each):
    (b, rows) counts, each resample the same total n, drawn with replacement."""
    n = int(counts.sum())
    rows = counts.shape[0]
    if np.all(counts == 1):  # one answer per row (a sample): index draws
        idx = rng.integers(0, rows, size=(b, n))
        flat = (idx + (np.arange(b) * rows)[:, None]).ravel()
        return np.bincount(flat, minlength=b * rows).reshape(b, rows).astype("float64")
    return rng.multinomial(n, counts / n, size=b).astype("float64")


def _bootstrap(z: Arr, counts: Arr, b: int, seed: int, exact: bool) -> Arr:
    """(b, k) bootstrap importances from the answer patterns z (rows, k+1) and counts."""
    rng = np.random.default_rng(seed)
    out = []
    batch = max(1, min(b, 20_000_000 // max(1, z.shape[0])))  # ≈ 160 MB of weights
    done = 0
    while done < b:
        size = min(batch, b - done)
        w = _resample_weights(counts, size, rng)
        r = correlation(*_moments(z, w))
        out.append(shapley(r) if exact else relative_weights(r))
        done += size
    return np.concatenate(out, axis=0)


def _top3_share(boot: Arr) -> Arr:
    k = boot.shape[1]
    if k <= TOP:
        return np.ones(k)
    rank = np.argsort(np.argsort(-boot, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < TOP).mean(axis=0)


# --- the analysis on answer data ---------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    label: str
    kind: str  # "rating" | "theme"
    top2_from: float | None = None  # a rating's top-2-box threshold (None: not defined)
    n: int = 0


def analyse(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    names: Sequence[str],
    *,
    kinds: Sequence[str] | None = None,
    outcome: str = "y",
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    min_n: int = DEFAULT_MIN_N,
) -> Drivers:
    """Key drivers from per-answer data: x (n, k) driver values, y (n,) outcome, `names`
    the k drivers. Rows with a missing value (NaN) are dropped (complete cases). `kinds`
    ("rating" / "theme", default rating) only label the rows; performance is the mean-free
    share of x == 1 for themes and NaN for ratings (no scale known here). Raises
    NotEnoughAnswers under min_n complete rows, ValueError for mismatched shapes."""
    xa = np.asarray(x, "float64")
    ya = np.asarray(y, "float64")
    if xa.ndim != 2 or ya.shape != (xa.shape[0],) or xa.shape[1] != len(names):
        raise ValueError("x must be (n, k), y (n,) and names k long")
    kinds = list(kinds or ["rating"] * len(names))
    z = np.column_stack([xa, ya])
    complete = ~np.isnan(z).any(axis=1)
    n_each = (~np.isnan(xa) & ~np.isnan(ya)[:, None]).sum(axis=0)
    specs = [_Spec(str(nm), str(nm), kd, None, int(c))
             for nm, kd, c in zip(names, kinds, n_each, strict=True)]  # fmt: skip
    z = z[complete]
    return _fit(z, np.ones(len(z)), specs, outcome, bootstrap, seed, min_n)


def _patterns(z: Arr, counts: Arr) -> tuple[Arr, Arr]:
    """Identical rows merged (counts added): the resampling runs over distinct patterns."""
    uniq, inverse = np.unique(z, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq))


def _fit(
    z: Arr,
    counts: Arr,
    specs: Sequence[_Spec],
    outcome: str,
    bootstrap: int,
    seed: int,
    min_n: int,
    moments: tuple[Arr, Arr, Arr] | None = None,
    total_n: int | None = None,
    hits: Arr | None = None,
) -> Drivers:
    """The analysis on answer patterns z (rows, k+1; y last) with counts. `moments`
    (n, Σx, Σxxᵀ over all answers), total_n (n) and `hits` (per driver: answers in its
    top two boxes, or mentioning the theme) when z is only a sample of the answers."""
    n = int(total_n if total_n is not None else counts.sum())
    if n < min_n:
        raise NotEnoughAnswers(
            f"not enough answers for a driver analysis of {outcome}: {n} answers have the "
            f"outcome and every driver, at least {min_n} needed"
        )
    if not specs:
        raise CxError(f"no drivers to analyse {outcome} by (no touchpoint ratings or themes)")
    sampled = moments is not None
    if not sampled:
        z, counts = _patterns(z, counts)
        moments = _moments(z, counts)
    # a canonical row order (y, then the drivers by name): the same seed draws the same
    # resamples whatever order the engine returned the rows in or the drivers came in
    by_name = sorted(range(len(specs)), key=lambda j: specs[j].name)
    order = np.lexsort([z[:, j] for j in reversed([len(specs), *by_name])])
    z, counts = z[order], counts[order]
    r = correlation(*moments)
    imp, method = importance(r)
    exact = method == SHAPLEY
    r2 = float(np.sum(imp))
    k = len(specs)
    low = high = np.full(k, np.nan)
    top3 = np.full(k, np.nan)
    if bootstrap > 0:
        boot = _bootstrap(z, counts, bootstrap, seed, exact)
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        top3 = _top3_share(boot)
    if hits is None:  # per driver: answers in its top two boxes / mentioning the theme
        hits = np.array([counts @ (z[:, j] >= (s.top2_from if s.top2_from is not None else 1)
                                   - 1e-9) for j, s in enumerate(specs)])
    perf, what = [], []
    for j, s in enumerate(specs):
        if s.kind == "theme":
            perf.append(100.0 * float(hits[j]) / n)
            what.append("% of answers mentioning the theme")
        elif s.top2_from is not None:
            perf.append(100.0 * float(hits[j]) / n)
            what.append("top-2-box %")
        else:
            perf.append(np.nan)
            what.append("no top-2-box (scale unknown or under 4 points)")
    frame = pd.DataFrame({
        "driver": [s.name for s in specs],
        "label": [s.label for s in specs],
        "kind": [s.kind for s in specs],
        "importance": imp,
        "share": imp / r2 if r2 > 0 else np.full(k, np.nan),
        "ci_low": low,
        "ci_high": high,
        "top3_share": top3,
        "performance_top2_pct": perf,
        "performance": what,
        "n": [s.n for s in specs],
    })
    frame = frame.sort_values(["importance", "driver"], ascending=[False, True])
    return Drivers(
        outcome=outcome, n=n, r2=r2, drivers=frame.reset_index(drop=True), method=method,
        bootstrap=max(0, int(bootstrap)), seed=seed, bootstrap_rows=int(counts.sum()),
        sampled=sampled, min_n=min_n,
    )


# --- on a store --------------------------------------------------------------------------


def _scale_pred(t: ir.Table, scale: str | None) -> ir.BooleanValue:
    return t.scale.isnull() if scale is None else t.scale == scale


def _rated_candidates(store: Store, ids: ir.Table) -> pd.DataFrame:
    """(touchpoint, scale, n) of the ratings of the answers in `ids` (one query)."""
    r = store.table(schema.TOUCHPOINT_RATINGS)
    r = r.filter(r.rating.notnull()).semi_join(ids, "response_id")
    out = r.group_by(["touchpoint", "scale"]).aggregate(n=r.response_id.nunique()).to_pandas()
    out = out[out["touchpoint"].notna()]
    out["scale"] = out["scale"].astype("object").where(out["scale"].notna(), None)
    return out.sort_values(["n", "touchpoint"], ascending=[False, True], ignore_index=True)


def _theme_candidates(
    store: Store, ids: ir.Table, source: str | None
) -> tuple[int, pd.DataFrame]:
    """(analysed answers in `ids`, (theme, n) mentions) — two small queries."""
    if source is not None and source not in tables.SOURCES:
        raise UnknownName("theme source", source, tables.SOURCES)
    analysed = store.table(tables.COMMENTS).select("response_id").semi_join(ids, "response_id")
    total = int(analysed.count().execute())
    ct = store.table(tables.THEMES).semi_join(analysed, "response_id")
    if source is not None:
        ct = ct.filter(ct.source == source)
    out = ct.group_by("theme").aggregate(n=ct.response_id.nunique()).to_pandas()
    out = out[out["theme"].notna()]
    return total, out.sort_values(["n", "theme"], ascending=[False, True], ignore_index=True)


def _pivot_ratings(store: Store, wanted: Sequence[tuple[str, str, str | None]]) -> ir.Table:
    """One row per response: column per (name, touchpoint, scale) = its mean rating there
    (conditional aggregates grouped by response_id; NULL when not rated)."""
    r = store.table(schema.TOUCHPOINT_RATINGS)
    r = r.filter(r.rating.notnull() & r.touchpoint.isin(sorted({w[1] for w in wanted})))
    value = r.rating.cast("float64")
    return r.group_by("response_id").aggregate(**{
        name: value.mean(where=(r.touchpoint == tp) & _scale_pred(r, scale))
        for name, tp, scale in wanted
    })


def _pivot_themes(store: Store, wanted: Sequence[tuple[str, str]]) -> ir.Table:
    """One row per analysed comment: column per (name, theme) = 1 mentioned, 0 not."""
    ct = store.table(tables.THEMES)
    ct = ct.filter(ct.theme.isin([th for _, th in wanted]))
    flags = ct.group_by("response_id").aggregate(**{
        name: ibis.cases((ct.theme == th, 1.0), else_=0.0).max() for name, th in wanted
    })
    analysed = store.table(tables.COMMENTS).select("response_id").distinct()
    joined = analysed.left_join(flags, "response_id")
    return joined.select(
        "response_id", **{name: joined[name].fill_null(0.0) for name, _ in wanted}
    )


def key_drivers(
    store: Store,
    filters: Filters,
    outcome: str = "nps",
    *,
    exclude: Sequence[str] = (),
    use_ratings: bool = True,
    use_themes: bool = True,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    min_n: int = DEFAULT_MIN_N,
    bootstrap_rows: int = BOOTSTRAP_ROWS,
    min_coverage: float = MIN_COVERAGE,
    theme_source: str | None = "taxonomy",
) -> Drivers:
    """Key drivers of `outcome` over the responses inside `filters` (and the store's row
    restriction): "nps" (0–10), "csat" (1–5), or a rated touchpoint's name (its rating).

    Drivers: every rated touchpoint (per scale) answered by at least `min_n` and at least
    `min_coverage` (a share, 0–1) of the answers with the outcome, and every theme
    mentioned by at least MIN_MENTIONS and not mentioned by at least MIN_MENTIONS analysed
    comments; at most MAX_DRIVERS (most answered ratings
    first, then most mentioned themes); names in `exclude` left out (e.g. a yes/no
    "Recommended" that is the outcome in other words). Themes come from `theme_source`
    ("taxonomy" by default: the curated themes, the same in every language; "auto": the
    per-language automatic ones; None: both). Left-out candidates are listed in
    `skipped`. See the module docstring for the method. Raises UnknownName for an unknown
    outcome, NotEnoughAnswers under `min_n` complete answers, CxError without drivers,
    NoData without responses."""
    base = responses(store, filters)
    has_ratings = ratings.has_ratings(store)
    y_rating: tuple[str, str | None] | None = None
    if outcome in OUTCOMES:
        if outcome not in base.columns:
            raise NoData(f"no {outcome} answers stored")
        ids = base.filter(base[outcome].notnull()).select(
            "response_id", y=base[outcome].cast("float64"))
        rated = _rated_candidates(store, ids) if has_ratings and use_ratings else None
        if rated is None and use_themes:
            fast = _themes_only(store, ids, outcome, exclude, min_n, theme_source, bootstrap,
                                seed, bootstrap_rows)
            if fast is not None:
                return fast
    else:
        rated = _rated_candidates(store, base.select("response_id")) if has_ratings else None
        match = rated[rated["touchpoint"] == outcome] if rated is not None else pd.DataFrame()
        if match.empty:
            allowed = [*OUTCOMES, *([] if rated is None else rated["touchpoint"].unique())]
            raise UnknownName("outcome", outcome, allowed)
        if len(match) > 1:
            raise CxError(f"the rating {outcome!r} is stored on several scales; "
                          "import it on one scale to use it as the outcome")
        y_rating = (outcome, match["scale"].iloc[0])
        y_col = _pivot_ratings(store, [("y", outcome, y_rating[1])])
        ids = base.select("response_id").inner_join(y_col, "response_id")
        ids = ids.filter(ids.y.notnull())
        rated = _rated_candidates(store, ids.select("response_id")) if use_ratings else None
    specs, skipped, rating_cols, theme_cols = _choose(
        store, ids.select("response_id"), rated, use_themes, exclude, min_n, y_rating,
        min_coverage, theme_source)
    wide = ids
    if rating_cols:
        wide = wide.inner_join(_pivot_ratings(store, rating_cols), "response_id")
    if theme_cols:
        wide = wide.inner_join(_pivot_themes(store, theme_cols), "response_id")
    cols = [f"d{j}" for j in range(len(specs))]
    if not specs:
        n = int(ids.count().execute())
        return _fit(np.zeros((0, 1)), np.zeros(0), [], outcome, bootstrap, seed, min_n,
                    total_n=n)
    wide = wide.select("response_id", *cols, "y")
    wide = wide.filter([wide[c].notnull() for c in [*cols, "y"]])
    patterns = (
        wide.group_by([*cols, "y"]).aggregate(_count=wide.count()).limit(bootstrap_rows + 1)
        .to_pandas()
    )
    if len(patterns) <= bootstrap_rows:
        z = patterns[[*cols, "y"]].to_numpy("float64")
        counts = pd.to_numeric(patterns["_count"]).to_numpy("float64")
        result = _fit(z, counts, specs, outcome, bootstrap, seed, min_n)
    else:
        result = _fit_sampled(wide, cols, specs, outcome, bootstrap, seed, min_n,
                              bootstrap_rows)
    return _with_skipped(result, skipped)


def _with_skipped(result: Drivers, skipped: list[tuple[str, str]]) -> Drivers:
    return replace(result, skipped=tuple(skipped))


def _choose(
    store: Store,
    ids: ir.Table,
    rated: pd.DataFrame | None,
    use_themes: bool,
    exclude: Sequence[str],
    min_n: int,
    y_rating: tuple[str, str | None] | None,
    min_coverage: float,
    theme_source: str | None,
    theme_counts: tuple[int, pd.DataFrame] | None = None,
) -> tuple[list[_Spec], list[tuple[str, str]], list[tuple[str, str, str | None]],
           list[tuple[str, str]]]:
    """The drivers (specs in column order d0, d1, …), the left-out candidates with why,
    and the rating / theme columns to pivot. `theme_counts`: the theme candidates when
    already known (as _theme_candidates returns them), else queried."""
    excluded = set(exclude)
    specs: list[_Spec] = []
    skipped: list[tuple[str, str]] = []
    rating_cols: list[tuple[str, str, str | None]] = []
    theme_cols: list[tuple[str, str]] = []
    if rated is not None and not rated.empty:
        answers = int(ids.count().execute())
        several = rated["touchpoint"].value_counts()
        for tp, scale, n in rated[["touchpoint", "scale", "n"]].itertuples(index=False):
            name = str(tp) if several[tp] == 1 else ratings.row_label(tp, scale)
            if y_rating is not None and (tp, scale) == y_rating:
                continue
            if name in excluded or tp in excluded:
                skipped.append((name, "excluded"))
                continue
            if int(n) < min_n:
                skipped.append((name, f"rated by {int(n)} answers, fewer than {min_n}"))
                continue
            if int(n) < min_coverage * answers:
                skipped.append((name, f"rated by {int(n)} of {answers} answers, under "
                                f"{min_coverage:.0%}: too many would be left out"))
                continue
            bounds = ratings.parse_scale(scale)
            top = bounds[1] - 1 if bounds and ratings.top2_defined(*bounds) else None
            rating_cols.append((f"d{len(specs)}", str(tp), scale))
            specs.append(_Spec(name, name, "rating", top, int(n)))
    if use_themes and store.has(tables.COMMENTS) and store.has(tables.THEMES):
        analysed, themes = theme_counts or _theme_candidates(store, ids, theme_source)
        labels = theme_labels(store) if not themes.empty else {}
        for theme, n in themes[["theme", "n"]].itertuples(index=False):
            if theme in excluded:
                skipped.append((str(theme), "excluded"))
                continue
            if min(int(n), analysed - int(n)) < MIN_MENTIONS:
                skipped.append((str(theme), f"mentioned by {int(n)} of {analysed} comments: "
                                f"under {MIN_MENTIONS} with or without"))
                continue
            theme_cols.append((f"d{len(specs)}", str(theme)))
            # n: answers with the outcome and an analysed comment (the flag is known)
            specs.append(_Spec(str(theme), label_of(str(theme), labels), "theme", None,
                               analysed))
    if len(specs) > MAX_DRIVERS:
        for s in specs[MAX_DRIVERS:]:
            skipped.append((s.name, f"more than {MAX_DRIVERS} drivers"))
        specs = specs[:MAX_DRIVERS]
        keep = {f"d{j}" for j in range(MAX_DRIVERS)}
        rating_cols = [c for c in rating_cols if c[0] in keep]
        theme_cols = [c for c in theme_cols if c[0] in keep]
    return specs, skipped, rating_cols, theme_cols


def _fit_sampled(
    wide: ir.Table,
    cols: list[str],
    specs: Sequence[_Spec],
    outcome: str,
    bootstrap: int,
    seed: int,
    min_n: int,
    rows: int,
) -> Drivers:
    """Too many distinct answer patterns to bring back: the moments (n, Σx, Σxxᵀ) and the
    drivers' top-2-box / mention counts are aggregated in the engine over all answers (a
    k×k matrix comes back), the bootstrap runs on a seeded hash sample of `rows` answers."""
    names = [*cols, "y"]
    aggs: dict[str, ir.Value] = {"n": wide.count()}
    for i, a in enumerate(names):
        aggs[f"s_{a}"] = wide[a].sum()
        for b in names[i:]:
            aggs[f"c_{a}_{b}"] = (wide[a] * wide[b]).sum()
    for j, s in enumerate(specs):
        threshold = s.top2_from if s.top2_from is not None else 1.0
        aggs[f"h_{j}"] = ibis.cases((wide[cols[j]] >= threshold - 1e-9, 1), else_=0).sum()
    got = wide.aggregate(**aggs).to_pandas().iloc[0]
    p = len(names)
    n = float(got["n"])
    sums = np.array([float(got[f"s_{a}"]) for a in names])
    cross = np.zeros((p, p))
    for i, a in enumerate(names):
        for j2 in range(i, p):
            cross[i, j2] = cross[j2, i] = float(got[f"c_{a}_{names[j2]}"])
    hits = np.array([float(got[f"h_{j}"]) for j in range(len(specs))])
    # a seeded, deterministic sample: the answers with the smallest hash of (id, seed)
    key = (wide.response_id.cast("string") + ibis.literal(f":{seed}")).hash()
    sample = wide.order_by([key, wide.response_id]).limit(rows).select(*names).to_pandas()
    z = sample.to_numpy("float64")
    return _fit(z, np.ones(len(z)), specs, outcome, bootstrap, seed, min_n,
                moments=(np.array(n), sums, cross), total_n=int(n), hits=hits)


_MASK_BITS = tables.MASK_BITS


def _stored_mask_counts(
    store: Store, ids: ir.Table, theme_source: str | None, rows: int
) -> tuple[list[str], pd.DataFrame] | None:
    """(theme names in bit order, the analysed answers in `ids` grouped by (y, m0) with
    `_count`) from the stored masks (cxdata.voc.tables MASKS) — one join, one grouping;
    None when they are not stored, a response_id repeats among the comments (its masks
    would count it once per comment) or `theme_source`'s themes are not all in one word."""
    if theme_source is None or not masked.comments_unique(store):
        return None
    bits = store.small_table(tables.BITS)
    bits = bits[bits["source"] == theme_source]
    if bits.empty or bits["word"].nunique() != 1:
        return None
    names = [str(t) for t in bits.sort_values("bit")["theme"]]
    if list(bits.sort_values("bit")["bit"]) != list(range(len(names))):
        return None  # not numbered as _BITS_SQL numbers them: read the themes instead
    masks = store.table(tables.MASKS)
    masks = masks.filter(masks.word == int(bits["word"].iloc[0]))
    wide = ids.inner_join(masks, "response_id").select("y", m0=masks.mask)
    got = wide.group_by(["y", "m0"]).aggregate(_count=wide.count()).limit(rows + 1).to_pandas()
    return names, got


def _computed_mask_counts(
    store: Store, ids: ir.Table, theme_source: str | None, rows: int
) -> tuple[list[str], pd.DataFrame] | None:
    """As _stored_mask_counts, with the masks (m0, m1, … of _MASK_BITS themes each)
    computed from THEMES and COMMENTS; None when no theme is stored."""
    ct = store.table(tables.THEMES)
    if theme_source is not None:
        ct = ct.filter(ct.source == theme_source)
    ct = ct.filter(ct.theme.notnull())
    names = sorted(str(t) for t in ct.select("theme").distinct().to_pandas()["theme"])
    if not names:
        return None
    groups = [names[i : i + _MASK_BITS] for i in range(0, len(names), _MASK_BITS)]
    masks = [f"m{g}" for g in range(len(groups))]
    flags = ct.group_by("response_id").aggregate(**{
        m: ibis.cases(*[(ct.theme == t, ibis.literal(1 << b, "int64"))
                        for b, t in enumerate(group)], else_=ibis.literal(0, "int64")).bit_or()
        for m, group in zip(masks, groups, strict=True)
    })
    analysed = store.table(tables.COMMENTS).select("response_id")
    wide = ids.semi_join(analysed, "response_id").left_join(flags, "response_id")
    wide = wide.select("y", **{m: wide[m].fill_null(0) for m in masks})
    got = (wide.group_by(["y", *masks]).aggregate(_count=wide.count())
           .limit(rows + 1).to_pandas())
    return names, got


def _themes_only(
    store: Store,
    ids: ir.Table,
    outcome: str,
    exclude: Sequence[str],
    min_n: int,
    theme_source: str | None,
    bootstrap: int,
    seed: int,
    bootstrap_rows: int,
) -> Drivers | None:
    """key_drivers when the drivers can only be themes (no ratings), from ONE big query:
    the analysed answers in `ids` (response_id, y) grouped by (y, their themes as bit
    masks) with counts — read from the stored masks when they are there (a join and a
    grouping), else computed from the theme rows. The candidates (answers analysed,
    mentions per theme), the choice of drivers and the answer patterns all follow from
    those counts, exactly as the general path computes them with its four queries (plus
    one small query for the theme ids). None when this does not apply (no themes, no
    driver, or more patterns than `bootstrap_rows`): the general path then runs (and
    says why)."""
    if not (store.has(tables.COMMENTS) and store.has(tables.THEMES)):
        return None
    if theme_source is not None and theme_source not in tables.SOURCES:
        raise UnknownName("theme source", theme_source, tables.SOURCES)
    found = (_stored_mask_counts(store, ids, theme_source, bootstrap_rows)
             or _computed_mask_counts(store, ids, theme_source, bootstrap_rows))
    if found is None:
        return None
    names, got = found
    if len(got) > bootstrap_rows:
        return None
    groups = [names[i : i + _MASK_BITS] for i in range(0, len(names), _MASK_BITS)]
    masks = [f"m{g}" for g in range(len(groups))]
    counts = pd.to_numeric(got["_count"]).to_numpy("float64")
    flag = np.zeros((len(got), len(names)))
    for g, (m, group) in enumerate(zip(masks, groups, strict=True)):
        bits = pd.to_numeric(got[m]).to_numpy("int64")
        for b in range(len(group)):
            flag[:, g * _MASK_BITS + b] = (bits >> b) & 1
    mentions = pd.DataFrame({"theme": names, "n": (counts @ flag).round().astype("int64")})
    mentions = mentions[mentions["n"] > 0].sort_values(["n", "theme"], ascending=[False, True],
                                                       ignore_index=True)
    specs, skipped, _, theme_cols = _choose(
        store, ids.select("response_id"), None, True, exclude, min_n, None, MIN_COVERAGE,
        theme_source, theme_counts=(int(counts.sum()), mentions))
    if not specs:
        return None
    column = {t: i for i, t in enumerate(names)}
    z = np.column_stack([flag[:, [column[t] for _, t in theme_cols]],
                         pd.to_numeric(got["y"]).to_numpy("float64")])
    result = _fit(z, counts, specs, outcome, bootstrap, seed, min_n)
    return _with_skipped(result, skipped)
