"""CPU of the theme views and of split trends on one store, for two code trees (issue 15).

    python bench/bench_views.py --data-dir DIR [--before TREE] [--rounds N] [--days D]

Times, in a fresh process per tree and round (the trees alternate, so both see the same
load), each of: theme impact, theme trend (month, all themes), theme × touchpoint matrix
(taxonomy themes), the taxonomy fit, one page of a theme's comments (the largest taxonomy
theme), and the weekly NPS trend split by region (top 5) — over the last D days
of the store (default 90) and over all of it. CPU seconds (time.process_time: DuckDB's
threads included) of the second call of each (the first compiles and warms the file
cache); the medians over the rounds are printed as a markdown table, with the ratio
before / after when --before is given (a checkout of the code before a change, e.g.
`git worktree add /tmp/before HEAD~1`). Both trees' results are also compared: a view
whose frames differ is reported (the change must not move a number).
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def measure(root: Path, data_dir: Path, days: int, out: Path) -> dict[str, float]:
    """CPU seconds of each view's second call, run with the code at `root`; the frames are
    pickled to `out`."""
    sys.path.insert(0, str(root))
    import dataclasses
    import datetime as dt
    import time

    import pandas as pd

    from cxdata import catalog, config, queries
    from cxdata.filters import Filters
    from cxdata.store import connect
    from cxdata.voc import fit, impact, verbatims

    store, th = connect(data_dir), config.thresholds()
    end = catalog.date_span(store)[1]
    biggest = str(impact.theme_impact(store, Filters(), "taxonomy", th)["theme"].iloc[0])
    scopes = {"last": Filters(start=end - dt.timedelta(days=days - 1), end=end), "all": Filters()}
    calls = {
        "theme impact": lambda f: impact.theme_impact(store, f, "taxonomy", th),
        "theme trend": lambda f: impact.theme_trend(store, f, "month", None, "taxonomy", th),
        "theme matrix": lambda f: impact.theme_matrix(store, f, "touchpoint", "taxonomy", th),
        "taxonomy fit": lambda f: pd.DataFrame([dataclasses.asdict(fit.taxonomy_fit(store, f))]),
        "theme comments": lambda f: verbatims.theme_verbatims(store, f, biggest, 2, 25).rows,
        "trend by region": lambda f: queries.trend(store, f, "week", by="region", top_n=5, th=th),
    }
    seconds, frames = {}, {}
    for scope, f in scopes.items():
        for name, call in calls.items():
            call(f)
            started = time.process_time()
            frames[(scope, name)] = call(f)
            seconds[f"{name} ({scope})"] = time.process_time() - started
    out.write_bytes(pickle.dumps(frames))
    return seconds


def _run(root: Path, args: argparse.Namespace, out: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(root), "--data-dir", str(args.data_dir),
           "--days", str(args.days), "--frames", str(out)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def _differences(a: Path, b: Path) -> list[str]:
    import pandas as pd

    left, right = pickle.loads(a.read_bytes()), pickle.loads(b.read_bytes())
    bad = []
    for key, frame in left.items():
        try:
            pd.testing.assert_frame_equal(frame, right[key], check_exact=False, rtol=1e-12)
        except AssertionError:
            bad.append(" ".join(key))
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--before", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.data_dir, args.days, args.frames)))
        return
    trees = {"after": HERE} | ({"before": args.before} if args.before else {})
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for tree, root in reversed(trees.items()):  # before first, then after
                runs[tree].append(_run(root, args, Path(tmp) / f"{tree}.pkl"))
        differ = _differences(Path(tmp) / "after.pkl", Path(tmp) / "before.pkl") if (
            args.before) else []
    median = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in runs.items()}
    print(f"{args.data_dir}: CPU seconds, medians of {args.rounds} rounds\n")
    if args.before:
        print("| view | before | after | after / before |\n|---|---:|---:|---:|")
        for k, after in median["after"].items():
            before = median["before"][k]
            print(f"| {k} | {before:.3f} | {after:.3f} | {after / before:.2f} |")
        print("\nframes that differ between the trees:", ", ".join(differ) or "none")
    else:
        print("| view | CPU s |\n|---|---:|")
        for k, after in median["after"].items():
            print(f"| {k} | {after:.3f} |")


if __name__ == "__main__":
    main()
