"""Lake benchmark (issue 13): the DuckLake store beside the earlier single DuckDB file.

    python bench/bench_lake.py [--rows 10000000] [--repeat 7] [--workdir DIR]

Generates the demo responses once and stores the same rows twice: in a DuckLake data
directory through cxdata.store (catalog.sqlite + Parquet) and in a plain DuckDB file with
the same derived columns, built by the same SQL the lake's replace runs. Then, on both:

- the queries of bench/bench_queries.py (first run in the process, then the warm median
  of `--repeat` runs), their sum of medians and its ratio lake / native;
- the per-rerun data-version check on the lake (cxdata.catalog.data_version on an unchanged
  lake, and the snapshot read lake.current_snapshot alone);
- the writes, once each: append 100k rows, replace all `--rows` rows.

Prints a markdown section and writes it into bench/results.md as the section
"DuckLake store vs the single DuckDB file (issue 13)" (replacing that section on a rerun).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import ibis
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_queries
from bench.machine import cpu_model
from bench.timing import median_seconds
from cxdata import catalog, lake, queries, schema
from cxdata.demo import demo_responses
from cxdata.filters import Filters
from cxdata.store import Store, close, conformed, connect

SECTION = "## DuckLake store vs the single DuckDB file (issue 13)"
APPEND_ROWS = 100_000
# Targets from issue 13.
SUM_RATIO_TARGET = 1.3
KPIS_TARGET_S = 0.1
VERSION_TARGET_S = 0.020

EVERYTHING = Filters()
# The cxdata side of bench_queries.run's query pairs, under the same names. That module
# builds its list inside run() (next to the pandas versions and the generated frame), so it
# cannot be imported; the calls are the same ones.
QUERIES: dict[str, Callable[[Store], object]] = {
    "kpis (NPS, CSAT, CES, friction)": lambda s: queries.kpis(s, EVERYTHING),
    "weekly NPS trend by region": lambda s: queries.trend(
        s, EVERYTHING, "week", by="region", metrics=["nps"]
    ),
    "friction matrix touchpoint × stage": lambda s: queries.friction_matrix(s, EVERYTHING),
}


def _derived_select(view: str, rows: object) -> str:
    """SQL selecting the Arrow rows registered as `view` plus schema.DERIVED, compiled by
    Ibis from the expressions the store's own writes use."""
    unbound = ibis.table(ibis.Schema.from_pyarrow(rows.schema), name=view)  # type: ignore[attr-defined]
    return ibis.to_sql(schema.with_derived(unbound), dialect="duckdb")


def native_replace(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Replace the native file's responses with `frame` as the lake's replace does: the
    contract's types, the derived columns, ordered by submitted_at, in one transaction."""
    rows = conformed(schema.RESPONSES, frame)
    con.register("cx_incoming", rows)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f'CREATE OR REPLACE TABLE "{schema.RESPONSES}" AS SELECT * FROM '
            f'({_derived_select("cx_incoming", rows)}) ORDER BY "submitted_at"'
        )
        con.execute("COMMIT")
    finally:
        con.unregister("cx_incoming")


def native_append(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Append `frame` to the native file's responses (types, derived columns, by name)."""
    rows = conformed(schema.RESPONSES, frame)
    con.register("cx_incoming", rows)
    try:
        con.execute(
            f'INSERT INTO "{schema.RESPONSES}" BY NAME '
            f'SELECT * FROM ({_derived_select("cx_incoming", rows)})'
        )
    finally:
        con.unregister("cx_incoming")


def wall(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def size_mb(path: Path) -> float:
    """Bytes under `path` (a file or a directory), in MB."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def check_same(native: Store, lake_store: Store, df: pd.DataFrame) -> None:
    """Both stores hold the same rows: bench_queries' KPI check against pandas on each, and
    equal answers of every query."""
    bench_queries._check_same_answer(native, df)
    bench_queries._check_same_answer(lake_store, df)
    for name, query in QUERIES.items():
        a, b = query(native), query(lake_store)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)
        else:
            assert a == b, (name, a, b)


def run(rows: int, repeat: int, workdir: Path) -> dict[str, object]:
    """Build both stores at `rows`, time queries, checks and writes; the figures."""
    out: dict[str, object] = {"rows": rows, "repeat": repeat}
    started = time.perf_counter()
    df = demo_responses(rows=rows)
    out["generate_s"] = time.perf_counter() - started
    print(f"{rows:,} rows generated in {out['generate_s']:.1f} s", flush=True)

    lake_dir = workdir / "lake-store"
    lake_store = connect(lake_dir)
    out["build_lake_s"] = wall(lambda: lake_store.replace_table(schema.RESPONSES, df))
    native_file = workdir / "native.duckdb"
    con = duckdb.connect(str(native_file))
    out["build_native_s"] = wall(lambda: native_replace(con, df))
    con.execute("CHECKPOINT")  # the file as a dashboard would open it: no pending WAL
    native = Store(ibis.duckdb.from_connection(con.cursor()), location=str(native_file))
    out["lake_mb"], out["native_mb"] = size_mb(lake_dir), size_mb(native_file)
    print(
        f"stored: lake {out['build_lake_s']:.1f} s ({out['lake_mb']:.0f} MB), "
        f"native {out['build_native_s']:.1f} s ({out['native_mb']:.0f} MB)",
        flush=True,
    )
    check_same(native, lake_store, df)

    timings = []
    for name, query in QUERIES.items():
        row: dict[str, object] = {"query": name}
        for label, store in (("native", native), ("lake", lake_store)):
            row[f"{label}_first_s"] = wall(lambda q=query, s=store: q(s))
            row[f"{label}_s"] = median_seconds(lambda q=query, s=store: q(s), repeat)
        timings.append(row)
        print(
            f"  {name:<36} native {row['native_s']:.3f} s   lake {row['lake_s']:.3f} s   "
            f"{row['lake_s'] / row['native_s']:.2f}×",  # type: ignore[operator]
            flush=True,
        )
    out["queries"] = timings

    checks = max(50, repeat)
    catalog.data_version(lake_store)  # the counts of this snapshot, computed once
    out["version_lake_s"] = median_seconds(
        lambda: catalog.data_version(lake_store), checks, warm_up=False
    )
    out["snapshot_s"] = median_seconds(
        lambda: lake.current_snapshot(lake_store.backend.con), checks, warm_up=False
    )
    # A warehouse-style store has no snapshot: every check runs the two count aggregates.
    out["version_native_s"] = median_seconds(
        lambda: catalog.data_version(native), repeat, warm_up=False
    )
    out["checks"] = checks
    print(
        f"  data_version (lake, unchanged) {out['version_lake_s'] * 1e3:.2f} ms; "
        f"current_snapshot {out['snapshot_s'] * 1e3:.2f} ms; "
        f"native data_version {out['version_native_s'] * 1e3:.1f} ms",
        flush=True,
    )

    extra = demo_responses(rows=APPEND_ROWS, seed=7).assign(
        response_id=lambda f: "bench-" + f["response_id"].astype(str)
    )
    out["append_native_s"] = wall(lambda: native_append(con, extra))
    out["append_lake_s"] = wall(lambda: lake_store.append_rows(schema.RESPONSES, extra))
    after_append = rows + APPEND_ROWS
    assert native.row_count(schema.RESPONSES) == after_append
    assert lake_store.row_count(schema.RESPONSES) == after_append
    out["replace_native_s"] = wall(lambda: native_replace(con, df))
    out["replace_lake_s"] = wall(lambda: lake_store.replace_table(schema.RESPONSES, df))
    assert native.row_count(schema.RESPONSES) == rows
    assert lake_store.row_count(schema.RESPONSES) == rows
    print(
        f"  append {APPEND_ROWS:,}: native {out['append_native_s']:.2f} s, "
        f"lake {out['append_lake_s']:.2f} s; replace {rows:,}: native "
        f"{out['replace_native_s']:.1f} s, lake {out['replace_lake_s']:.1f} s",
        flush=True,
    )
    con.close()
    close(lake_dir)
    return out


def _command(*args: str) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "(unavailable)"
    return out.strip("\n")  # keep free's leading spaces: its header lines up with them


def machine_notes() -> list[str]:
    """nproc, free -h, CPU model, date and load (taken before the run), as markdown lines."""
    return [
        f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; CPU {cpu_model()}; "
        f"`nproc` {_command('nproc')}; Python {platform.python_version()}, DuckDB "
        f"{duckdb.__version__}, Ibis {ibis.__version__}; load average before the run "
        f"{' '.join(_command('cat', '/proc/loadavg').split()[:3])}.",
        "",
        "```",
        "$ free -h",
        _command("free", "-h"),
        "```",
        "",
        "The machine is shared with other jobs and noisy: the figures are one run, both "
        "stores measured back to back in the same process, so read the ratios rather than "
        "the absolute times.",
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(r: dict[str, object], notes: list[str]) -> str:
    """The results as the section of bench/results.md (`notes`: machine_notes())."""
    rows = int(r["rows"])  # type: ignore[arg-type]
    timings: list[dict[str, float]] = r["queries"]  # type: ignore[assignment]
    lines = [
        SECTION,
        "",
        f"`python bench/bench_lake.py --rows {rows}` — the queries of bench/bench_queries.py "
        f"at {rows:,} demo rows on the DuckLake store (cxdata.store.connect: SQLite catalog + "
        "zstd Parquet) beside the earlier single DuckDB file holding the same rows and derived "
        "columns (read through the same Store and Ibis code). First run in the process, then "
        f"the median of {r['repeat']} warm runs.",
        "",
        *notes,
        "",
        "| query | native first (ms) | lake first (ms) | native warm (ms) | lake warm (ms) "
        "| lake / native |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        lines.append(
            f"| {t['query']} | {t['native_first_s'] * 1e3:.0f} | {t['lake_first_s'] * 1e3:.0f} "
            f"| {t['native_s'] * 1e3:.1f} | {t['lake_s'] * 1e3:.1f} "
            f"| {t['lake_s'] / t['native_s']:.2f}× |"
        )
    native_sum = sum(t["native_s"] for t in timings)
    lake_sum = sum(t["lake_s"] for t in timings)
    ratio = lake_sum / native_sum
    lines.append(
        f"| **sum of warm medians** | | | {native_sum * 1e3:.1f} | {lake_sum * 1e3:.1f} "
        f"| **{ratio:.2f}×** |"
    )
    kpis = next(t for t in timings if t["query"].startswith("kpis"))["lake_s"]
    version = float(r["version_lake_s"])  # type: ignore[arg-type]
    lines += [
        "",
        f"Per-rerun data-version check on the unchanged lake (median of {r['checks']}): "
        f"`cxdata.catalog.data_version` {version * 1e3:.2f} ms, of which the snapshot read "
        f"`lake.current_snapshot` alone {float(r['snapshot_s']) * 1e3:.2f} ms "  # type: ignore[arg-type]
        f"(the native file, with no snapshot, runs its two count aggregates every time: "
        f"{float(r['version_native_s']) * 1e3:.1f} ms).",  # type: ignore[arg-type]
        "",
        "| write (once, wall) | native (s) | lake (s) | lake / native |",
        "|---|---:|---:|---:|",
    ]
    for label, key in (
        (f"first store of {rows:,} rows", "build"),
        (f"append {APPEND_ROWS:,} rows", "append"),
        (f"replace {rows:,} rows", "replace"),
    ):
        n, k = float(r[f"{key}_native_s"]), float(r[f"{key}_lake_s"])  # type: ignore[arg-type]
        lines.append(f"| {label} | {n:.2f} | {k:.2f} | {k / n:.2f}× |")
    lines += [
        "",
        f"Both write columns include the pandas → Arrow conversion (cxdata.store.conformed) "
        f"and the derived columns; the lake's also take the write lock and record the commit. "
        f"On disk: lake {float(r['lake_mb']):.0f} MB, native file "  # type: ignore[arg-type]
        f"{float(r['native_mb']):.0f} MB. Generating the rows took "  # type: ignore[arg-type]
        f"{float(r['generate_s']):.0f} s.",  # type: ignore[arg-type]
        "",
        "Targets (issue 13): sum of medians ≤ "
        f"{SUM_RATIO_TARGET}× native — {ratio:.2f}×, {_met(ratio <= SUM_RATIO_TARGET)}; "
        f"`kpis` warm ≤ {KPIS_TARGET_S * 1e3:.0f} ms — {kpis * 1e3:.1f} ms, "
        f"{_met(kpis <= KPIS_TARGET_S)}; data-version check ≤ {VERSION_TARGET_S * 1e3:.0f} ms "
        f"— {version * 1e3:.2f} ms, {_met(version <= VERSION_TARGET_S)}.",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put `section` into the results file: in place of an earlier one, else at the end."""
    text = path.read_text() if path.exists() else ""
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start].rstrip("\n") + "\n\n" + section + ("\n" + rest if rest else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.md")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary dir")
    args = parser.parse_args()
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    notes = machine_notes()
    with tempfile.TemporaryDirectory(prefix="cx-bench-lake-", dir=args.workdir) as tmp:
        results = run(args.rows, args.repeat, Path(tmp))
    text = markdown(results, notes)
    write_section(args.out, text)
    print("\n" + text)


if __name__ == "__main__":
    main()
