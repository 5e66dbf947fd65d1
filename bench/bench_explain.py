"""Explain and key drivers benchmark (issue 14): cxdata beside the plain pandas way.

    python bench/bench_explain.py [--data-dir DIR | --rows 10000000] [--repeat 5]

On one demo store (`--data-dir`, else a new one of `--rows` rows with its themes computed,
in a temporary directory) it times, warm (median of `--repeat` runs after one warm-up, in
this process):

- cxdata.explain.explain of NPS over the default comparison (the last 90 days of data vs the
  90 before) with by=None (the dimension ranked first by rank_dimensions) and by="region",
  bootstrap B = 200;
- cxdata.drivers.key_drivers of NPS with the demo's drivers (the taxonomy themes), B = 1000.

Beside each, the plain pandas way on the same rows loaded into pandas once (not timed):
explain — a groupby of the counts per period and segment, the small segments pooled, the
Kitagawa formula and the same multinomial bootstrap (by=None: every candidate dimension
counted and ranked first); drivers — the per-respondent 0/1 theme matrix (a crosstab of
the analysed answers), the same regression importances on its correlation matrix (exact
Shapley up to 12 drivers, relative weights beyond) and the bootstrap resampling the
respondents. The pandas bootstrap of the drivers resamples millions of rows per draw: it
runs `--pandas-draws` draws and the time of B = 1000 is extrapolated from their mean.

Prints the figures and writes them into bench/results.md as the section
"## Explain and key drivers (issue 14)" (replacing that section only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from bench.timing import median_seconds
from cxdata import catalog, config, drivers, explain, schema
from cxdata.filters import Filters
from cxdata.store import Store, close, connect
from cxdata.voc import tables

SECTION = "## Explain and key drivers (issue 14)"
TARGET_S = 1.0  # issue 14: each warm at 10M rows
EXPLAIN_B = explain.DEFAULT_BOOTSTRAP
DRIVERS_B = drivers.DEFAULT_BOOTSTRAP
Z95 = 1.959963984540054


# --- explain, the plain pandas way ---------------------------------------------------------


def load_responses(store: Store, dims: list[str]) -> pd.DataFrame:
    """submitted_at, nps and the dimensions of every response (strings as categoricals)."""
    table = store.table(schema.RESPONSES).select("submitted_at", "nps", *dims).to_pyarrow()
    cols = {
        name: (col.dictionary_encode() if pa.types.is_string(col.type) else col)
        for name, col in zip(table.column_names, table.columns, strict=True)
    }
    return pa.table(cols).to_pandas()


def _period_counts(df: pd.DataFrame, dim: str, now: Filters, prev: Filters) -> pd.DataFrame:
    t = df["submitted_at"]

    def inside(f: Filters) -> pd.Series:
        end = pd.Timestamp(f.end + dt.timedelta(days=1))  # type: ignore[operator]
        return (t >= pd.Timestamp(f.start)) & (t < end)

    is_now, is_prev = inside(now), inside(prev)
    sub = df.loc[is_now | is_prev, ["nps", dim]]
    nps = sub["nps"]
    frame = pd.DataFrame({
        "period": np.where(is_now[is_now | is_prev], "now", "prev"),
        "segment": sub[dim].astype("object").fillna("(not set)").to_numpy(),
        "n": nps.notna().to_numpy(), "p": (nps >= 9).to_numpy(), "d": (nps <= 6).to_numpy(),
    })
    g = frame.groupby(["segment", "period"]).sum().unstack("period", fill_value=0)
    g.columns = [f"{c}_{s}" for c, s in g.columns]
    return g.reindex(columns=[f"{c}_{s}" for c in "npd" for s in ("now", "prev")],
                     fill_value=0).astype("float64")


def _pool(g: pd.DataFrame, min_n: int) -> pd.DataFrame:
    g = g[(g["n_now"] > 0) | (g["n_prev"] > 0)]
    small = (g["n_now"] < min_n) | (g["n_prev"] < min_n)
    if small.any():
        g = pd.concat([g[~small], g[small].sum().to_frame("(pooled)").T])
    return g


def _nps(p: np.ndarray, d: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100 * (p - d) / n


def _kitagawa(n1, r1, n0, r0):  # type: ignore[no-untyped-def]
    w1 = n1 / n1.sum(axis=-1, keepdims=True)
    w0 = n0 / n0.sum(axis=-1, keepdims=True)
    r1f = np.where(n1 > 0, r1, np.where(n0 > 0, r0, 0.0))
    r0f = np.where(n0 > 0, r0, r1f)
    return 0.5 * (w1 + w0) * (r1f - r0f), 0.5 * (r1f + r0f) * (w1 - w0)


def _resample(g: pd.DataFrame, side: str, b: int, rng: np.random.Generator) -> tuple:
    n, p, d = (g[f"{c}_{side}"].to_numpy() for c in "npd")
    cells = np.stack([p, d, n - p - d])
    draws = rng.multinomial(int(n.sum()), (cells / n.sum()).ravel(), size=b)
    draws = draws.reshape(b, 3, -1).astype("float64")
    return draws.sum(axis=1), draws[:, 0], draws[:, 1]


def pandas_explain(df: pd.DataFrame, dim: str, now: Filters, prev: Filters, min_n: int,
                   b: int = EXPLAIN_B, seed: int = 0) -> dict[str, float]:
    """NPS change along `dim`: Kitagawa within / mix with the multinomial bootstrap CIs."""
    g = _pool(_period_counts(df, dim, now, prev), min_n)
    n1, p1, d1 = (g[f"{c}_now"].to_numpy() for c in "npd")
    n0, p0, d0 = (g[f"{c}_prev"].to_numpy() for c in "npd")
    within, mix = _kitagawa(n1, _nps(p1, d1, n1), n0, _nps(p0, d0, n0))
    rng = np.random.default_rng(seed)
    a, c = _resample(g, "now", b, rng), _resample(g, "prev", b, rng)
    ws, ms = _kitagawa(a[0], _nps(a[1], a[2], a[0]), c[0], _nps(c[1], c[2], c[0]))
    ci = np.nanpercentile(np.stack([ws.sum(1), ms.sum(1)]), [2.5, 97.5], axis=1)
    return {"within": float(within.sum()), "mix": float(mix.sum()),
            "within_low": float(ci[0, 0]), "mix_high": float(ci[1, 1])}


def pandas_rank_and_explain(df: pd.DataFrame, now: Filters, prev: Filters,
                            min_n: int) -> tuple[str, dict[str, float]]:
    """Every dimension with 2–50 values decomposed and ranked (mix + segment changes beyond
    their noise, Wald standard errors), then the first one explained with its bootstrap."""
    best, best_score = "", -1.0
    for dim in df.columns[2:]:
        if not 2 <= df[dim].nunique() <= explain.MAX_SEGMENTS:
            continue
        g = _pool(_period_counts(df, dim, now, prev), min_n)
        n1, p1, d1 = (g[f"{c}_now"].to_numpy() for c in "npd")
        n0, p0, d0 = (g[f"{c}_prev"].to_numpy() for c in "npd")
        r1, r0 = _nps(p1, d1, n1), _nps(p0, d0, n0)
        within, mix = _kitagawa(n1, r1, n0, r0)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = sum(((p / n + d / n) - (p / n - d / n) ** 2) / n * 1e4
                      for p, d, n in ((p1, d1, n1), (p0, d0, n0)))
        both = (n1 > 0) & (n0 > 0)
        excess = np.where(both, np.maximum(
            0.0, np.abs(np.nan_to_num(r1 - r0) - within.sum()) - Z95 * np.sqrt(var)), 0.0)
        w_bar = 0.5 * (n1 / n1.sum() + n0 / n0.sum())
        score = abs(mix.sum()) + float(np.nansum(w_bar * excess))
        if score > best_score:
            best, best_score = dim, score
    return best, pandas_explain(df, best, now, prev, min_n)


# --- key drivers, the plain pandas way -----------------------------------------------------


def load_theme_rows(store: Store) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """(response_id + nps of the responses with an NPS, analysed response_ids, taxonomy
    theme rows response_id + theme)."""
    r = store.table(schema.RESPONSES)
    answers = r.filter(r.nps.notnull()).select("response_id", "nps").to_pandas()
    analysed = store.table(tables.COMMENTS).select("response_id").to_pandas()["response_id"]
    t = store.table(tables.THEMES)
    themes = t.filter(t.source == "taxonomy").select("response_id", "theme").to_pandas()
    return answers, analysed, themes


def _relative_weights(r: np.ndarray) -> np.ndarray:
    rxx, rxy = r[:-1, :-1], r[:-1, -1]
    vals, vecs = np.linalg.eigh(rxx)
    root = np.sqrt(np.clip(vals, 0, None))
    lam = (vecs * root) @ vecs.T
    beta = np.linalg.solve(lam, rxy)
    return (lam**2) @ (beta**2)


def _shapley_ols(r: np.ndarray) -> np.ndarray:
    k = r.shape[0] - 1
    r2 = np.zeros(1 << k)
    for mask in range(1, 1 << k):
        s = [j for j in range(k) if mask >> j & 1]
        rs = r[np.ix_(s, s)]
        r2[mask] = r[s, -1] @ np.linalg.solve(rs, r[s, -1])
    out = np.zeros(k)
    for j in range(k):
        for mask in range(1 << k):
            if not mask >> j & 1:
                size = bin(mask).count("1")
                w = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                out[j] += w * (r2[mask | 1 << j] - r2[mask])
    return out


def _importances(m: np.ndarray) -> np.ndarray:
    r = np.corrcoef(m, rowvar=False)
    return _shapley_ols(r) if r.shape[0] - 1 <= drivers.EXACT_MAX else _relative_weights(r)


def pandas_drivers(answers: pd.DataFrame, analysed: pd.Series, themes: pd.DataFrame,
                   names: list[str], draws: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """(importances of `names` in order, seconds per bootstrap draw): the per-respondent
    matrix of the analysed answers (0/1 per theme, NPS last), the importances on it, and
    `draws` bootstrap draws over the respondents."""
    ids = answers[answers["response_id"].isin(analysed)]
    flags = pd.crosstab(themes["response_id"], themes["theme"]).clip(upper=1)
    wide = ids.set_index("response_id").join(flags[names], how="left").fillna(0.0)
    m = wide[[*names, "nps"]].to_numpy("float64")
    point = _importances(m)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for _ in range(draws):
        _importances(m[rng.integers(0, len(m), len(m))])
    per_draw = (time.perf_counter() - started) / max(1, draws)
    return point, per_draw


# --- the run -------------------------------------------------------------------------------


def _build(rows: int, folder: Path) -> Store:
    from cxdata.demo import store_demo
    from cxdata.voc.persist import compute_themes

    store = connect(folder)
    store_demo(store, rows=rows)
    compute_themes(store)
    return store


def run(store: Store, repeat: int, pandas_repeat: int, pandas_draws: int) -> dict[str, object]:
    """Every timing (seconds) and the facts for the results section."""
    th = config.thresholds()
    now, prev = explain.comparison_filters(store, Filters())
    out: dict[str, object] = {"rows": int(store.table(schema.RESPONSES).count().execute()),
                              "period_now": now, "period_prev": prev, "repeat": repeat}
    cx: dict[str, Callable[[], object]] = {
        "explain by=None": lambda: explain.explain(store, now, prev, "nps"),
        "explain by=region": lambda: explain.explain(store, now, prev, "nps", by="region"),
        "key_drivers nps": lambda: drivers.key_drivers(store, Filters(), "nps"),
    }
    times: dict[str, float] = {}
    for name, fn in cx.items():
        times[name] = median_seconds(fn, repeat)
        print(f"  cxdata {name:<20} {times[name]:8.3f} s", flush=True)
    chosen = explain.explain(store, now, prev, "nps")
    by_region = explain.explain(store, now, prev, "nps", by="region")
    kd = drivers.key_drivers(store, Filters(), "nps")
    out |= {"cx": times, "dimension": chosen.dimension, "kd": kd}

    card = catalog.dimension_cardinality(store)
    dims = [d for d in store.dimensions() if d in card]
    started = time.perf_counter()
    df = load_responses(store, dims)
    answers, analysed, themes = load_theme_rows(store)
    out["load_s"] = time.perf_counter() - started
    names = list(kd.drivers.sort_values("driver")["driver"])
    pd_times: dict[str, float] = {}
    pd_times["explain by=None"] = median_seconds(
        lambda: pandas_rank_and_explain(df, now, prev, th.min_n), pandas_repeat)
    pd_times["explain by=region"] = median_seconds(
        lambda: pandas_explain(df, "region", now, prev, th.min_n), pandas_repeat)
    draw_times, fit_times = [], []
    for _ in range(pandas_repeat):
        started = time.perf_counter()
        point, per_draw = pandas_drivers(answers, analysed, themes, names, pandas_draws)
        fit_times.append(time.perf_counter() - started - per_draw * pandas_draws)
        draw_times.append(per_draw)
    pd_times["key_drivers nps"] = statistics.median(fit_times) + DRIVERS_B * statistics.median(
        draw_times)
    out |= {"pd": pd_times, "pd_draw_s": statistics.median(draw_times)}
    for name, s in pd_times.items():
        print(f"  pandas {name:<20} {s:8.3f} s", flush=True)

    # like with like: the pandas way gives the same numbers
    best, _ = pandas_rank_and_explain(df, now, prev, th.min_n)
    out["same_dimension"] = best == chosen.dimension
    reg = pandas_explain(df, "region", now, prev, th.min_n)
    assert np.isclose(reg["within"], by_region.within, atol=1e-9), (reg, by_region.within)
    assert np.isclose(reg["mix"], by_region.mix, atol=1e-9), (reg, by_region.mix)
    mine = kd.drivers.set_index("driver").loc[names, "importance"].to_numpy()
    assert np.allclose(point, mine, atol=1e-9), (point, mine)
    return out


def markdown(res: dict[str, object], data_dir: str) -> str:
    """The results section."""
    cx, pdt = res["cx"], res["pd"]
    kd = res["kd"]
    now, prev = res["period_now"], res["period_prev"]
    load = os.getloadavg()
    lines = [
        SECTION,
        "",
        f"`python bench/bench_explain.py --data-dir {data_dir}` — {res['rows']:,} demo rows "
        f"(DuckLake store, themes computed). Machine: {machine()}. Python "
        f"{platform.python_version()}. Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load "
        f"average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (the machine is "
        "shared: read the ratios more than the absolute times).",
        "",
        f"NPS, {now.start}–{now.end} vs {prev.start}–{prev.end}. cxdata: warm medians of "
        f"{res['repeat']} runs after one warm-up, in one process. explain: bootstrap B = "
        f"{EXPLAIN_B}; by=None chose `{res['dimension']}` (the pandas ranking chose the same: "
        f"{'yes' if res['same_dimension'] else 'no'}). key_drivers: B = {DRIVERS_B}, "
        f"{len(kd.drivers)} theme drivers ({kd.method}), n = {kd.n:,} complete answers. "
        "pandas: the same rows loaded once into pandas "
        f"({res['load_s']:.1f} s, not timed); its key drivers bootstrap time is the fit plus "
        f"{DRIVERS_B} × the mean draw ({res['pd_draw_s']:.2f} s per draw), extrapolated.",
        "",
        "| task | cxdata (s) | pandas way (s) | pandas / cxdata | target ≤ 1 s |",
        "|---|---:|---:|---:|---|",
    ]
    for name, s in cx.items():  # type: ignore[attr-defined]
        p = pdt[name]  # type: ignore[index]
        met = "met" if s <= TARGET_S else "**missed**"
        lines.append(f"| {name} | {s:.3f} | {p:.3f} | {p / s:.1f}× | {met} |")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put `section` into the results file: in place of an earlier one, else at the end;
    the rest of the file unchanged."""
    text = path.read_text() if path.exists() else ""
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="a demo store (default: build one)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pandas-repeat", type=int, default=3)
    parser.add_argument("--pandas-draws", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cx-bench-explain-") as tmp:
        folder = args.data_dir or Path(tmp) / "store"
        store = connect(folder) if args.data_dir else _build(args.rows, folder)
        res = run(store, args.repeat, args.pandas_repeat, args.pandas_draws)
        close(folder)
    text = markdown(res, str(args.data_dir or f"(new, --rows {args.rows})"))
    write_section(args.out, text)
    print("\n" + text)


if __name__ == "__main__":
    main()
