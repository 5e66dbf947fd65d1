"""Confidence intervals and significance tests (DESIGN §4), vectorised over numpy arrays.

Inputs are counts or moments; outputs are in the unit the dashboard shows (NPS points
−100…100, percentages 0…100, CES on its 1–7 scale). A zero n gives NaN, never an error.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Z95 = 1.96
FDR_Q = 0.05  # the false discovery rate Benjamini–Hochberg keeps when many tests run at once
Num = npt.ArrayLike
Arr = npt.NDArray[np.float64]


def _f(x: Num) -> Arr:
    return np.asarray(x, dtype=np.float64)


def _safe_div(num: Num, den: Num) -> Arr:
    num, den = _f(num), _f(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def nps_value(promoters: Num, detractors: Num, n: Num) -> Arr:
    """NPS = 100·(P − D)/n, in points (−100…100)."""
    return 100.0 * _safe_div(_f(promoters) - _f(detractors), n)


def nps_ci(promoters: Num, detractors: Num, n: Num, z: float = Z95) -> tuple[Arr, Arr]:
    """Adjusted-Wald CI (Rocks 2016): n′=n+3, p′=(P+¾)/n′, d′=(D+¾)/n′, in points, clipped."""
    n_adj = _f(n) + 3.0
    p = (_f(promoters) + 0.75) / n_adj
    d = (_f(detractors) + 0.75) / n_adj
    centre = p - d
    half = z * np.sqrt(np.maximum(p + d - centre**2, 0.0) / n_adj)
    low = np.clip(100.0 * (centre - half), -100.0, 100.0)
    high = np.clip(100.0 * (centre + half), -100.0, 100.0)
    empty = _f(n) <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def share_pct(count: Num, n: Num) -> Arr:
    """100·count/n."""
    return 100.0 * _safe_div(count, n)


def wilson_ci(successes: Num, n: Num, z: float = Z95) -> tuple[Arr, Arr]:
    """Wilson score interval for a proportion, in percent."""
    n_f = _f(n)
    p = _safe_div(successes, n_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 + z**2 / n_f
        centre = (p + z**2 / (2 * n_f)) / denom
        half = z * np.sqrt(p * (1 - p) / n_f + z**2 / (4 * n_f**2)) / denom
    return 100.0 * (centre - half), 100.0 * (centre + half)


def mean_and_sd(total: Num, total_sq: Num, n: Num) -> tuple[Arr, Arr]:
    """Mean and sample standard deviation (n−1) from the sum and sum of squares."""
    n_f = _f(n)
    mean = _safe_div(total, n_f)
    var = _safe_div(_f(total_sq) - n_f * np.nan_to_num(mean) ** 2, n_f - 1.0)
    return mean, np.sqrt(np.maximum(var, 0.0))


def mean_ci(mean: Num, sd: Num, n: Num, z: float = Z95) -> tuple[Arr, Arr]:
    """mean ± z·s/√n."""
    half = z * _safe_div(sd, np.sqrt(np.maximum(_f(n), 0.0)))
    return _f(mean) - half, _f(mean) + half


def nps_change_t(
    p1: Num, d1: Num, n1: Num, p2: Num, d2: Num, n2: Num
) -> Arr:
    """t = (NPS₁ − NPS₂)/√(Var₁/n₁ + Var₂/n₂), NPS as proportions, Var = p + d − (p − d)²."""
    a_p, a_d = _safe_div(p1, n1), _safe_div(d1, n1)
    b_p, b_d = _safe_div(p2, n2), _safe_div(d2, n2)
    var1 = a_p + a_d - (a_p - a_d) ** 2
    var2 = b_p + b_d - (b_p - b_d) ** 2
    return _t(a_p - a_d - (b_p - b_d), _safe_div(var1, n1) + _safe_div(var2, n2))


def proportion_change_z(x1: Num, n1: Num, x2: Num, n2: Num) -> Arr:
    """Unpooled two-proportion z = (p₁ − p₂)/√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂)."""
    a, b = _safe_div(x1, n1), _safe_div(x2, n2)
    return _t(a - b, _safe_div(a * (1 - a), n1) + _safe_div(b * (1 - b), n2))


def mean_change_t(m1: Num, s1: Num, n1: Num, m2: Num, s2: Num, n2: Num) -> Arr:
    """Welch t = (m₁ − m₂)/√(s₁²/n₁ + s₂²/n₂)."""
    return _t(_f(m1) - _f(m2), _safe_div(_f(s1) ** 2, n1) + _safe_div(_f(s2) ** 2, n2))


def _t(diff: Arr, var: Arr) -> Arr:
    """diff/√var; a zero variance gives ±inf for a real difference and 0 for none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(var)
    return np.where((var == 0) & (diff == 0), 0.0, t)


def is_significant(stat: Num, z: float = Z95) -> npt.NDArray[np.bool_]:
    """|stat| > z (95% two-sided by default); NaN is not significant."""
    return np.abs(np.nan_to_num(_f(stat), nan=0.0)) > z


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def p_value(stat: Num) -> Arr:
    """Two-sided p-value of a z or large-sample t statistic under the standard normal,
    P(|Z| ≥ |stat|) = erfc(|stat|/√2), in 0…1 — the reference distribution behind
    is_significant's |stat| > 1.96. NaN (no test) stays NaN; ±inf gives 0."""
    z = np.abs(_f(stat))
    return np.where(np.isnan(z), np.nan, _erfc(np.nan_to_num(z, nan=0.0) / math.sqrt(2.0)))


def bh_significant(p_values: Num, q: float = FDR_Q) -> npt.NDArray[np.bool_]:
    """Which of several tests run at once are significant when the false discovery rate
    (the expected share of false findings among those flagged) is kept at `q`: the
    step-up procedure of Benjamini & Hochberg (1995), "Controlling the false discovery
    rate: a practical and powerful approach to multiple testing", J. R. Stat. Soc. B 57(1),
    289–300. With the m tested p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, let k be the largest i
    with p₍ᵢ₎ ≤ i·q/m; the tests with the k smallest p-values are significant (ties with
    p₍ₖ₎ included).

    `p_values`: a 1-d array in 0…1; NaN marks a test that was not run — it is False and is
    not counted in m. Returns a bool array of the same length. The guarantee (FDR ≤ q) holds
    for independent or positively dependent tests (Benjamini & Yekutieli 2001), the case of
    segments of one selection compared on one metric."""
    p = _f(p_values).reshape(-1)
    tested = ~np.isnan(p)
    m = int(tested.sum())
    out = np.zeros(p.shape, dtype=bool)
    if m == 0:
        return out
    ranked = np.sort(p[tested])
    passing = np.flatnonzero(ranked <= q * np.arange(1, m + 1) / m)
    if passing.size:
        out[tested] = p[tested] <= ranked[passing[-1]]
    return out


def corrected_wording(comparisons: int) -> str:
    """How a result tested among many was judged, in words: "after correcting for 17
    comparisons (Benjamini–Hochberg, 5% FDR)" — the false discovery rate bh_significant
    keeps. The one wording for the dashboard and the command line."""
    n = int(comparisons)
    return (
        f"after correcting for {n:,} comparison{'' if n == 1 else 's'} "
        f"(Benjamini–Hochberg, {FDR_Q:.0%} FDR)"
    )
