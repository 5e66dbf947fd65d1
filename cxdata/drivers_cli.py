"""`python -m cxdata drivers`: which touchpoint ratings and themes drive NPS or CSAT
(cxdata.drivers: Shapley split of R², bootstrap CIs and top-3 stability)."""

from __future__ import annotations

import argparse
import json

from cxdata import drivers
from cxdata.cli_args import Handler, add_filter_options, filters_of, non_negative_int
from cxdata.store import Store


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `drivers` subcommand; returns its handler."""
    cmd = sub.add_parser(
        "drivers",
        help="key drivers of NPS or CSAT: Shapley importance of ratings and themes",
        description="Splits the R² of the outcome's regression on the touchpoint ratings "
        "and comment themes between them (exact Shapley/LMG up to "
        f"{drivers.EXACT_MAX} drivers, Johnson's relative weights beyond), with percentile "
        "bootstrap CIs and each driver's share of resamples in the top 3. Complete cases "
        "only; fewer than --min-n (default "
        f"{drivers.DEFAULT_MIN_N}) of them: 'not enough answers'.",
    )
    add_filter_options(cmd)
    cmd.add_argument(
        "--outcome", default="nps",
        help="nps (0–10), csat, or the name of a rated touchpoint, e.g. an overall 'Rating'",
    )
    cmd.add_argument(
        "--exclude", action="append", default=[], metavar="DRIVER",
        help="repeatable; leave this rating or theme out (e.g. a yes/no 'Recommended')",
    )
    cmd.add_argument("--no-ratings", action="store_true", help="themes only")
    cmd.add_argument("--no-themes", action="store_true", help="ratings only")
    cmd.add_argument(
        "--theme-source", choices=("taxonomy", "auto", "all"), default="taxonomy",
        help="which themes are drivers (taxonomy: the curated ones, the same in every "
        "language)",
    )
    cmd.add_argument(
        "--bootstrap", type=non_negative_int, default=drivers.DEFAULT_BOOTSTRAP,
        help=f"bootstrap resamples ({drivers.DEFAULT_BOOTSTRAP}; 0: no CIs)",
    )
    cmd.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    cmd.add_argument("--json", action="store_true")
    return {"drivers": cmd_drivers}


def cmd_drivers(store: Store, args: argparse.Namespace) -> None:
    """Print the key driver analysis (a table, or JSON with --json)."""
    result = drivers.key_drivers(
        store, filters_of(args), args.outcome, exclude=args.exclude,
        use_ratings=not args.no_ratings, use_themes=not args.no_themes,
        theme_source=None if args.theme_source == "all" else args.theme_source,
        bootstrap=args.bootstrap, seed=args.seed,
        min_n=args.min_n if args.min_n is not None else drivers.DEFAULT_MIN_N,
    )
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    print(f"key drivers of {result.outcome}: R² = {result.r2:.3f}, n = {result.n} "
          f"(complete cases), {result.method}")
    print(f"\n  {'driver':<32} {'kind':<6} {'importance':>10} {'95% CI':>17} {'top-3':>6} "
          f"{'perf %':>7} {'n':>7}")
    for row in result.drivers.itertuples():
        ci = "" if row.ci_low != row.ci_low else f"[{row.ci_low:.3f}, {row.ci_high:.3f}]"
        top3 = "" if row.top3_share != row.top3_share else f"{100 * row.top3_share:.0f}%"
        perf = "" if row.performance_top2_pct != row.performance_top2_pct else (
            f"{row.performance_top2_pct:.1f}")
        print(f"  {str(row.label)[:32]:<32} {row.kind:<6} {row.importance:>10.3f} {ci:>17} "
              f"{top3:>6} {perf:>7} {row.n:>7}")
    print("\n  performance: top-2-box % of a rating, % of answers mentioning a theme")
    if result.bootstrap:
        sample = (f" on a sample of {result.bootstrap_rows} answers" if result.sampled
                  else "")
        print(f"  95% CIs: percentile bootstrap, {result.bootstrap} resamples{sample}, seed "
              f"{result.seed}")
    for name, why in result.skipped:
        print(f"  left out: {name} ({why})")
