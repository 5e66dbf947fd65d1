"""Query benchmark: cxdata (Ibis → embedded DuckDB) beside a straightforward pandas version.

    python bench/bench_queries.py [--rows 1000000 10000000] [--repeat 7]

For each size it generates the demo responses, stores them, then times (warm, median of
`--repeat` runs) the KPIs, the weekly NPS trend by region and the friction matrix, both
through cxdata and in pandas on the same in-memory frame. Writes bench/results.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from bench.timing import median_seconds
from cxdata import queries, schema
from cxdata.demo import demo_responses
from cxdata.filters import Filters
from cxdata.store import close_all, connect

# --- the same three queries in plain pandas --------------------------------------------


def pandas_kpis(df: pd.DataFrame) -> dict[str, float]:
    nps = df["nps"].dropna()
    csat = df["csat"].dropna()
    ces = df["ces"].dropna().astype(float)
    tagged = df[df["touchpoint"].notna()]
    bad = (
        (tagged["ces"] <= 3).fillna(False)
        | (tagged["csat"] <= 2).fillna(False)
        | (tagged["nps"] <= 6).fillna(False)
    )
    return {
        "nps": 100 * ((nps >= 9).mean() - (nps <= 6).mean()),
        "csat": 100 * (csat >= 4).mean(),
        "ces": ces.mean(),
        "ces_sd": ces.std(),
        "friction": 100 * bad.mean(),
    }


def pandas_weekly_nps_by_region(df: pd.DataFrame) -> pd.DataFrame:
    week = df["submitted_at"].dt.to_period("W-SUN").dt.start_time
    scored = df.assign(week=week, p=df["nps"] >= 9, d=df["nps"] <= 6, has=df["nps"].notna())
    g = scored.groupby(["week", "region"]).agg(p=("p", "sum"), d=("d", "sum"), n=("has", "sum"))
    g["nps"] = 100 * (g["p"] - g["d"]) / g["n"]
    return g


def pandas_friction_matrix(df: pd.DataFrame) -> pd.DataFrame:
    tagged = df[df["touchpoint"].notna()]
    bad = (
        (tagged["ces"] <= 3).fillna(False)
        | (tagged["csat"] <= 2).fillna(False)
        | (tagged["nps"] <= 6).fillna(False)
    )
    g = tagged.assign(bad=bad).groupby(["touchpoint", "journey_stage"])["bad"].agg(["sum", "size"])
    g["friction"] = 100 * g["sum"] / g["size"]
    return g


def run(rows: int, repeat: int, workdir: Path) -> list[dict[str, object]]:
    """Time the three queries at one size; returns one result row per query."""
    started = time.perf_counter()
    df = demo_responses(rows=rows)
    generated = time.perf_counter() - started
    store = connect(workdir / f"r{rows}")
    started = time.perf_counter()
    store.replace_table(schema.RESPONSES, df)
    stored = time.perf_counter() - started
    print(f"{rows:>11,} rows: generated in {generated:.1f} s, stored in {stored:.1f} s", flush=True)
    everything = Filters()
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "kpis (NPS, CSAT, CES, friction)": (
            lambda: queries.kpis(store, everything),
            lambda: pandas_kpis(df),
        ),
        "weekly NPS trend by region": (
            lambda: queries.trend(store, everything, "week", by="region", metrics=["nps"]),
            lambda: pandas_weekly_nps_by_region(df),
        ),
        "friction matrix touchpoint × stage": (
            lambda: queries.friction_matrix(store, everything),
            lambda: pandas_friction_matrix(df),
        ),
    }
    out = []
    for name, (cx, pdf) in pairs.items():
        cx_s, pd_s = median_seconds(cx, repeat), median_seconds(pdf, repeat)
        print(
            f"  {name:<36} cxdata {cx_s:7.3f} s   pandas {pd_s:7.3f} s   {pd_s / cx_s:5.1f}×",
            flush=True,
        )
        out.append({"rows": rows, "query": name, "cxdata_s": cx_s, "pandas_s": pd_s})
    _check_same_answer(store, df)
    return out


def _check_same_answer(store: object, df: pd.DataFrame) -> None:
    """The benchmark compares like with like: both give the same KPIs."""
    k = queries.kpis(store, Filters())  # type: ignore[arg-type]
    ref = pandas_kpis(df)
    assert np.isclose(k.nps.value, ref["nps"], atol=1e-3), (k.nps.value, ref["nps"])
    assert np.isclose(k.friction.value, ref["friction"], atol=1e-3)


def markdown(results: list[dict[str, object]], repeat: int) -> str:
    """The results as the README's table."""
    lines = [
        f"Machine: {machine()}. Python {platform.python_version()}. Warm medians of "
        f"{repeat} runs; embedded DuckDB via Ibis vs single-threaded pandas on the same "
        "in-memory frame.",
        "",
        "| rows | query | cxdata (s) | pandas (s) | cxdata speed-up |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['query']} | {r['cxdata_s']:.3f} | {r['pandas_s']:.3f} | "
            f"{r['pandas_s'] / r['cxdata_s']:.1f}× |"  # type: ignore[operator]
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.md")
    args = parser.parse_args()
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="cx-bench-") as tmp:
        for rows in args.rows:
            results += run(rows, args.repeat, Path(tmp))
        close_all()
    text = markdown(results, args.repeat)
    args.out.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
