"""Plain pandas / math implementations of DESIGN §4, written independently of cxdata.

Each function takes the raw rows of one group and returns what the dashboard should show;
`rows_in` picks the raw rows that a Filters selects.
"""

from __future__ import annotations

import math

import pandas as pd

from cxdata.filters import NOT_SET, Filters

Z = 1.96


def rows_in(frame: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """The rows of `frame` inside `f`: the pandas equivalent of a Filters (dates inclusive
    by calendar day; NOT_SET in an IN-list matches a missing value)."""
    keep = pd.Series(True, index=frame.index)
    if f.start:
        keep &= frame["submitted_at"] >= pd.Timestamp(f.start)
    if f.end:
        keep &= frame["submitted_at"] < pd.Timestamp(f.end) + pd.Timedelta(days=1)
    for dim, values in f.where:
        col = frame[dim]
        keep &= col.isin([v for v in values if v != NOT_SET]) | (
            col.isna() if NOT_SET in values else False
        )
    return frame[keep]


def nps(rows: pd.DataFrame) -> dict[str, float]:
    """NPS value, n and adjusted-Wald CI from raw rows."""
    s = rows["nps"].dropna().astype(int)
    n = len(s)
    p, d = int((s >= 9).sum()), int((s <= 6).sum())
    out: dict[str, float] = {"n": n, "promoters": p, "detractors": d, "passives": n - p - d}
    if n == 0:
        return out | {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    n2 = n + 3
    pp, dd = (p + 0.75) / n2, (d + 0.75) / n2
    half = Z * math.sqrt((pp + dd - (pp - dd) ** 2) / n2)
    return out | {
        "value": 100 * (p - d) / n,
        "ci_low": max(-100.0, 100 * (pp - dd - half)),
        "ci_high": min(100.0, 100 * (pp - dd + half)),
    }


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval in percent."""
    if n == 0:
        return math.nan, math.nan
    phat = successes / n
    denom = 1 + Z * Z / n
    centre = (phat + Z * Z / (2 * n)) / denom
    half = Z * math.sqrt(phat * (1 - phat) / n + Z * Z / (4 * n * n)) / denom
    return 100 * (centre - half), 100 * (centre + half)


def csat(rows: pd.DataFrame) -> dict[str, float]:
    """CSAT top-2-box % with Wilson CI."""
    s = rows["csat"].dropna().astype(int)
    n, top = len(s), int((s >= 4).sum())
    low, high = wilson(top, n)
    return {"n": n, "value": 100 * top / n if n else math.nan, "ci_low": low, "ci_high": high}


def csat_top_box(rows: pd.DataFrame) -> dict[str, float]:
    """CSAT top-box %: the share of 5s among the 1–5 answers, with Wilson CI."""
    s = rows["csat"].dropna().astype(int)
    n, fives = len(s), int((s == 5).sum())
    low, high = wilson(fives, n)
    return {"n": n, "value": 100 * fives / n if n else math.nan, "ci_low": low, "ci_high": high}


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """Unpooled z of p1 − p2."""
    p1, p2 = x1 / n1, x2 / n2
    return (p1 - p2) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def welch_t(a: pd.Series, b: pd.Series) -> float:
    """Welch t of mean(a) − mean(b)."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    return (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def ces(rows: pd.DataFrame) -> dict[str, float]:
    """CES mean with t-free normal CI and % easy (5–7)."""
    s = rows["ces"].dropna().astype(float)
    n = len(s)
    if n == 0:
        return {
            "n": 0,
            "value": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "easy": math.nan,
        }
    mean = float(s.mean())
    sd = float(s.std(ddof=1)) if n > 1 else 0.0
    half = Z * sd / math.sqrt(n)
    return {
        "n": n,
        "value": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "easy": 100 * float((s >= 5).mean()),
    }


def friction(rows: pd.DataFrame) -> dict[str, float]:
    """Share of touchpoint-tagged answers with CES ≤ 3, CSAT ≤ 2 or NPS ≤ 6."""
    scored = rows[rows["touchpoint"].notna() & rows[["nps", "csat", "ces"]].notna().any(axis=1)]
    bad = (
        (scored["ces"] <= 3).fillna(False)
        | (scored["csat"] <= 2).fillna(False)
        | (scored["nps"] <= 6).fillna(False)
    )
    n = len(scored)
    return {"n": n, "value": 100 * float(bad.sum()) / n if n else math.nan}


def nps_t(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """t statistic of NPS(a) − NPS(b)."""

    def parts(rows: pd.DataFrame) -> tuple[float, float, int]:
        s = rows["nps"].dropna()
        n = len(s)
        p, d = float((s >= 9).mean()), float((s <= 6).mean())
        return p - d, p + d - (p - d) ** 2, n

    x1, v1, n1 = parts(a)
    x2, v2, n2 = parts(b)
    return (x1 - x2) / math.sqrt(v1 / n1 + v2 / n2)
