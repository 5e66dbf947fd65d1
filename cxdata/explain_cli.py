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
        help="the dimension to decompose along (default: the one that explains most)",
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
    current, previous = explain.comparison_filters(store, filters_of(args))
    result = explain.explain(
        store, current, previous, args.metric, args.by, thresholds_of(args),
        bootstrap=args.bootstrap, seed=args.seed,
    )
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
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
