"""CPU of one filter-change rerun per page (issue 15), in AppTest on a demo store.

Each page is opened in a fresh AppTest; then the sidebar's region filter is set to one
region after another and the CPU time of each rerun (time.process_time: every thread of
the process, DuckDB's included) is recorded. The first WARMUP reruns are left out (imports,
first compiles); the median of the rest is reported. Every rerun changes the filter, so
every query keyed on the filters is a cache miss: this is the cost a user pays per click.

    CX_DATA_DIR=/tmp/lead_demo CX_OPEN_ADMIN=1 .venv/bin/python bench/profile_rerun.py
        [pages...] [--before DIR] [--profile] [--rounds N]

--before DIR   also measure the tree at DIR (a copy of the code before a change) and
               print a table page | before | after | ratio. Each page of each tree runs in
               its own subprocess, before and after alternating, so both see the same load.
--profile      print the cProfile of the measured reruns: the script thread, timed by its
               own CPU clock (time.thread_time), so other processes' load does not count;
               DuckDB's worker threads are not in it (process CPU above is).
--rounds N     rounds of before/after per page (default 1); the medians are pooled.

Also printed: the script thread's own CPU per rerun (time.thread_time, no profiler): the
page's Python work without DuckDB's worker threads, less moved by other processes' load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PAGES = ["overview", "trends", "touchpoints", "segments", "feedback"]
REGIONS = ["Oslo", "Viken", "Stockholm", "Skåne", "Västra Götaland", "Hovedstaden", "Midtjylland"]
WARMUP = 2


def measure(root: Path, page: str, profile: bool) -> dict[str, object]:
    """CPU and wall seconds of each filter-change rerun of `page`, run from `root`."""
    sys.path.insert(0, str(root))
    os.chdir(root)
    import cProfile
    import pstats

    from streamlit.runtime.scriptrunner import script_runner as sr
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    # A server compiles each script once (one ScriptCache for its runtime); AppTest makes a
    # new cache per run, which would add a recompile of dashboard.py and the page to
    # every rerun here. Share one, as the server does.
    shared = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared  # type: ignore

    prof = cProfile.Profile(time.thread_time)
    on = [False]
    thread_cpu = [0.0]  # the script thread's own CPU in the last run (no DuckDB workers)
    original = sr.ScriptRunner._run_script

    def wrapped(self, *a, **k):  # profile the script thread only, and only when asked
        t0 = time.thread_time()
        if on[0]:
            prof.enable()
        try:
            return original(self, *a, **k)
        finally:
            if on[0]:
                prof.disable()
            thread_cpu[0] = time.thread_time() - t0

    sr.ScriptRunner._run_script = wrapped
    at = AppTest.from_file(str(root / "dashboard.py"), default_timeout=300)
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cpu, wall, script = [], [], []
    for i, region in enumerate(REGIONS):
        w = next(w for w in at.multiselect if str(w.key).endswith("region"))
        w.set_value(list(region) if isinstance(region, (list, tuple)) else [region])
        c0, t0 = time.process_time(), time.perf_counter()
        on[0] = profile and i >= WARMUP
        at.run()
        on[0] = False
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
        script.append(thread_cpu[0])
        assert not at.exception, [e.value for e in at.exception]
    out: dict[str, object] = {"page": page, "cpu": cpu, "wall": wall, "script": script}
    if profile:
        text = io.StringIO()
        stats = pstats.Stats(prof, stream=text)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)
        out["profile"] = text.getvalue()
        if os.environ.get("CX_PROFILE_DUMP"):  # for pstats' callers view
            stats.dump_stats(os.environ["CX_PROFILE_DUMP"])
    return out


def run_child(root: Path, page: str, profile: bool) -> dict[str, object]:
    """`measure` in a fresh interpreter (no module or cache shared between trees)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), page]
    if profile:
        cmd.append("--profile")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{root} {page} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    """The median of the measured reruns (warm-up reruns left out by the caller)."""
    return statistics.median(values)


def main() -> None:
    """Measure the pages named on the command line (default: every page)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="*")
    ap.add_argument("--before", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--child", type=Path)
    args = ap.parse_args()
    pages = [Path(p).stem for p in args.pages] or PAGES
    if args.child:
        print(json.dumps(measure(args.child, pages[0], args.profile)))
        return
    rows = []
    for page in pages:
        got: dict[str, list[float]] = {"before": [], "after": []}
        own: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            trees = [("before", args.before)] if args.before else []
            for label, root in [*trees, ("after", HERE)]:
                res = run_child(root, page, args.profile)
                cpu = res["cpu"][WARMUP:]
                got[label] += cpu
                own[label] += res["script"][WARMUP:]
                print(
                    f"{label:6} {page:12} cpu median {median(cpu):.3f}s  wall median "
                    f"{median(res['wall'][WARMUP:]):.3f}s  script thread "
                    f"{median(res['script'][WARMUP:]):.3f}s  all cpu "
                    f"{[round(x, 3) for x in res['cpu']]}",
                    flush=True,
                )
                if args.profile:
                    print(res["profile"][:14000], flush=True)
        rows.append((page, got, own))
    print(
        "\n| page | before (s CPU) | after (s CPU) | after / before "
        "| script thread before | after | after / before |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for page, got, own in rows:
        after, own_after = median(got["after"]), median(own["after"])
        if got["before"]:
            before, own_before = median(got["before"]), median(own["before"])
            print(
                f"| {page} | {before:.3f} | {after:.3f} | {after / before:.2f} "
                f"| {own_before:.3f} | {own_after:.3f} | {own_after / own_before:.2f} |"
            )
        else:
            print(f"| {page} | – | {after:.3f} | – | – | {own_after:.3f} | – |")


if __name__ == "__main__":
    main()
