"""`python -m cxdata explain`: why a metric moved between two periods (cxdata.explain)."""

from __future__ import annotations

import argparse
import json

from cxdata import explain
from cxdata.cli_args import (
    Handler,
    add_filter_options,
    filters_of,
    non_negative_int,
    thresholds_of,
)
from cxdata.metrics import METRICS, metric_def
from cxdata.store import Store


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `explain` subcommand; returns its handler."""
    cmd = sub.add_parser(
        "explain",
        help="why a metric moved: within-segment change vs mix shift along a dimension",
        description="Kitagawa decomposition of a metric's change between the period "
        "--from/--to and the same-length period just before it. Without dates: the last "
        f"{explain.DEFAULT_DAYS} days of data vs the {explain.DEFAULT_DAYS} days before "
        "(a missing --to is the last day with data; a missing --from is "
        f"{explain.DEFAULT_DAYS} days before --to). Segments under --min-n answers in either "
        "period are pooled as 'Other'.",
    )
    add_filter_options(cmd)
    cmd.add_argument("--metric", default="nps", help=f"one of {', '.join(METRICS)} (nps)")
    cmd.add_argument(
        "--by",
        help="the dimension to decompose along (default: the one that explains most); two "
        "comma-separated dimensions (region,customer_type) decompose along both at once "
        "(Das Gupta): the mix effect of each and the within-cell effect",
    )
    cmd.add_argument(
        "--bootstrap", type=non_negative_int, default=explain.DEFAULT_BOOTSTRAP,
        help=f"bootstrap resamples for the 95%% CIs ({explain.DEFAULT_BOOTSTRAP}; 0: none)",
    )
    cmd.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    cmd.add_argument("--json", action="store_true")
    return {"explain": cmd_explain}


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"  [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def cmd_explain(store: Store, args: argparse.Namespace) -> None:
    metric_def(args.metric)  # an unknown metric fails before any query
    by = args.by
    if by is not None and "," in by:
        by = [d.strip() for d in by.split(",")]
    current, previous = explain.comparison_filters(store, filters_of(args))
    result = explain.explain(
        store, current, previous, args.metric, by, thresholds_of(args),
        bootstrap=args.bootstrap, seed=args.seed,
    )
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    if isinstance(result, explain.Explanation2D):
        _print_two(result)
        return
    m = METRICS[result.metric]
    unit = m.change_unit
    print(f"{m.label} by {result.dimension}: {current.start} – {current.end} vs "
          f"{previous.start} – {previous.end}")
    print(f"  now  {result.value_now:8.2f}  n={result.n_now}")
    print(f"  prev {result.value_prev:8.2f}  n={result.n_prev}")
    print(f"  change  {result.total:+.2f} {unit}{_ci(result.total_ci)}")
    print(f"  within  {result.within:+.2f} {unit}{_ci(result.within_ci)}  "
          "(the segments themselves changed)")
    print(f"  mix     {result.mix:+.2f} {unit}{_ci(result.mix_ci)}  "
          "(answers shifted between segments)")
    print(f"\n  {'segment':<28} {'n now':>7} {'n prev':>7} {'within':>8} {'mix':>8}")
    for row in result.segments.itertuples():
        name = f"{row.segment} ({row.members} values)" if row.pooled else row.segment
        print(f"  {name[:28]:<28} {row.n_now:>7} {row.n_prev:>7} {row.within:>+8.2f} "
              f"{row.mix:>+8.2f}")
    if result.bootstrap:
        print(f"\n  95% CIs: percentile bootstrap, {result.bootstrap} resamples, seed "
              f"{result.seed}")


def _print_two(result: explain.Explanation2D) -> None:
    """The text output of a two-dimension (Das Gupta) explanation."""
    m = METRICS[result.metric]
    unit = m.change_unit
    a, b = result.dimensions
    cur, prev = result.current, result.previous
    assert cur is not None and prev is not None  # set by explain.explain
    print(f"{m.label} by {a} × {b} (Das Gupta): {cur.start} – {cur.end} vs "
          f"{prev.start} – {prev.end}")
    print(f"  now  {result.value_now:8.2f}  n={result.n_now}")
    print(f"  prev {result.value_prev:8.2f}  n={result.n_prev}")
    print(f"  change  {result.total:+.2f} {unit}{_ci(result.total_ci)}")
    print(f"  within  {result.within:+.2f} {unit}{_ci(result.within_ci)}  "
          "(the cells themselves changed)")
    for name, value, ci in ((a, result.mix_a, result.mix_a_ci), (b, result.mix_b,
                                                                  result.mix_b_ci)):
        print(f"  mix {name}: {value:+.2f} {unit}{_ci(ci)}  (answers shifted between "
              f"{name} values)")
    pooled = [f"{k} {n}" for k, n in zip(result.dimensions, result.pooled, strict=True) if n]
    if pooled:
        print(f"  pooled into 'Other' (under {result.min_n} answers): "
              f"{', '.join(pooled)} values")
    print(f"\n  {a[:18]:<18} {b[:18]:<18} {'n now':>7} {'n prev':>7} {'within':>8} "
          f"{'mix ' + a[:6]:>11} {'mix ' + b[:6]:>11}")
    for row in result.cells.itertuples():
        cell = f"  {row.a[:18]:<18} {row.b[:18]:<18} {row.n_now:>7} {row.n_prev:>7} "
        if row.small:  # its effects would be noise and show a small group's score
            print(f"{cell}{'n too small (under ' + str(result.min_n) + ')':>30}")
        else:
            print(f"{cell}{row.within:>+8.2f} {row.mix_a:>+11.2f} {row.mix_b:>+11.2f}")
    if result.bootstrap:
        print(f"\n  95% CIs: percentile bootstrap, {result.bootstrap} resamples, seed "
              f"{result.seed}")
