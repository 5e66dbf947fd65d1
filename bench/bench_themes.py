"""Theme benchmark: the full voice-of-the-customer computation over the 300k-row demo.

    python bench/bench_themes.py [--rows 300000] [--unique] [--out bench/themes_results.md]

Steps, each timed in a fresh data directory:
1. compute_themes over every demo comment, cold (the process has not loaded the language
   model, lemma dictionaries or VADER yet) — the number the ≤ 60 s target is about;
2. update_themes after appending 5,000 new demo responses (the work an import triggers);
3. the page's queries on the stored results (warm medians of 5): impact, trend, theme ×
   touchpoint, one page of verbatims;
4. with --unique, the same computation when every comment is distinct (a reference number
   appended to each), so that nothing is shared between comments: the worst case.

Writes the results with the machine (CPU model, cores, RAM) to --out.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from bench.timing import median_seconds
from cxdata import schema
from cxdata.demo import demo_responses
from cxdata.filters import Filters
from cxdata.store import Store, close_all, connect
from cxdata.voc import impact, persist, verbatims

TARGET_SECONDS = 60.0


def progress_printer(label: str) -> Callable[[float, str], None]:
    """Progress on stderr, one line per 10 % step."""
    started = time.perf_counter()
    state = {"next": 0.0}

    def report(fraction: float, message: str) -> None:
        if fraction >= state["next"] or fraction >= 1.0:
            took = time.perf_counter() - started
            print(f"  [{label}] {took:6.1f} s {fraction * 100:5.1f}% {message}", file=sys.stderr)
            state["next"] = fraction + 0.1

    return report


def timed_run(fn: Callable[[], persist.VocRun]) -> tuple[float, persist.VocRun]:
    """Wall time of one theme computation, and what it did."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def made_unique(frame: pd.DataFrame) -> pd.DataFrame:
    """Every comment distinct: a reference number in words-and-digits appended."""
    out = frame.copy()
    has = out["comment"].notna()
    refs = pd.Series([f" Ref {i:07d}." for i in range(len(out))], index=out.index)
    out.loc[has, "comment"] = out.loc[has, "comment"] + refs[has]
    return out


def full_run(data_dir: Path, frame: pd.DataFrame, label: str) -> tuple[float, Store, int]:
    store = connect(data_dir)
    store.replace_table(schema.RESPONSES, frame)
    seconds, run = timed_run(lambda: persist.compute_themes(store, progress_printer(label)))
    return seconds, store, run.comments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--unique", action="store_true", help="also run the worst case")
    parser.add_argument("--out", default=str(Path(__file__).with_name("themes_results.md")))
    args = parser.parse_args()

    frame = demo_responses(rows=args.rows)
    distinct = int(frame["comment"].nunique())
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        cold, store, comments = full_run(Path(tmp) / "demo", frame, "compute")
        new = demo_responses(rows=5_000, seed=99)
        new["response_id"] = "NEW-" + new["response_id"].astype(str)
        store.append_rows(schema.RESPONSES, new)
        upd_seconds, upd = timed_run(
            lambda: persist.update_themes(store, progress_printer("update"))
        )
        f = Filters()
        queries = {
            "theme impact (all themes)": lambda: impact.theme_impact(store, f),
            "theme trend (month, 5 themes)": lambda: impact.theme_trend(
                store, f, "month", ["delivery", "price", "staff", "returns", "app"]),
            "theme × touchpoint matrix": lambda: impact.theme_matrix(store, f, "touchpoint"),
            "verbatims, page 3 of 25": lambda: verbatims.theme_verbatims(store, f, "delivery",
                                                                         3, 25),
        }  # fmt: skip
        query_times = {name: median_seconds(fn) for name, fn in queries.items()}
        delivery = impact.theme_impact(store, f, "taxonomy").set_index("theme").loc["delivery"]
        close_all()
        unique = None
        if args.unique:
            unique = full_run(Path(tmp) / "unique", made_unique(frame), "unique")
            close_all()

    ok = cold <= TARGET_SECONDS
    lines.append("# Theme computation benchmark\n")
    lines.append(
        f"Machine: {machine()}. Python {platform.python_version()}, duckdb "
        f"{version('duckdb')}, scikit-learn {version('scikit-learn')}, py3langid "
        f"{version('py3langid')}, simplemma {version('simplemma')}.\n"
    )
    lines.append(
        f"Data: the demo, {args.rows:,} responses, {comments:,} comments "
        f"({distinct:,} distinct texts), languages en/no/da/sv/sl. Command: "
        "`python bench/bench_themes.py" + (" --unique" if args.unique else "") + "`.\n"
    )
    lines.append("| step | seconds | note |\n|---|---:|---|")
    lines.append(
        f"| compute_themes, cold process (detect, lemmatise, taxonomy, VADER, fit "
        f"TF-IDF+NMF per language, store) | {cold:.1f} | target ≤ {TARGET_SECONDS:.0f} s: "
        f"{'met' if ok else 'NOT met'} |"
    )
    lines.append(
        f"| update_themes after appending 5,000 responses | {upd_seconds:.2f} | "
        f"{upd.comments:,} new comments analysed |"
    )
    for name, secs in query_times.items():
        lines.append(f"| {name} | {secs:.3f} | warm median of 5 |")
    if unique is not None:
        u_seconds, _, u_comments = unique
        lines.append(
            f"| compute_themes, every comment distinct (worst case) | {u_seconds:.1f} | "
            f"{u_comments:,} distinct comments |"
        )
    lines.append("")
    lines.append(
        f"Delivery theme on all demo data: n = {int(delivery['n']):,}, NPS with "
        f"{delivery['nps_with']:.1f} vs without {delivery['nps_without']:.1f}, impact "
        f"{delivery['nps_impact']:+.1f} points, t = {delivery['t']:.1f} "
        f"({'significant' if bool(delivery['significant']) else 'not significant'})."
    )
    lines.append("")
    lines.append(
        "Work is done once per distinct comment text (language, sentiment) or per "
        "distinct (text, language) pair (lemmas, taxonomy, automatic themes), then "
        "spread to the responses; the NMF models are fitted on at most "
        "20,000 comments per language."
    )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
