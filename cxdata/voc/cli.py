"""`python -m cxdata themes`: theme impact on NPS, and computing the themes; `python -m
cxdata comments`: every matching comment streamed to a CSV file.

    python -m cxdata themes [--from D] [--to D] [--where DIM=VALUE]... [--source S] [--json]
    python -m cxdata themes --rebuild      # compute every comment's themes (progress on stderr)
    python -m cxdata themes --update       # only new or changed comments
    python -m cxdata comments --out FILE.csv [filters] [--search T] [--band B] [--sort S]

The lead wires it in with `COMMANDS.update(voc_cli.add_parsers(sub))`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import pandas as pd

from cxdata import comments
from cxdata.cli_args import Handler, add_filter_options, filters_of, thresholds_of
from cxdata.errors import NoData
from cxdata.filters import NOT_SET
from cxdata.stats import corrected_wording
from cxdata.store import Store
from cxdata.voc import impact, persist, tables
from cxdata.voc.language import language_name


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `themes` subcommand to an argparse sub-parser set; returns its handler."""
    cmd = sub.add_parser("themes", help="theme impact on NPS (and computing the themes)")
    add_filter_options(cmd)
    cmd.add_argument(
        "--source",
        choices=[*tables.SOURCES, "all"],
        default="all",
        help="taxonomy themes, automatic themes or both (default)",
    )
    cmd.add_argument("--json", action="store_true")
    how = cmd.add_mutually_exclusive_group()
    how.add_argument(
        "--rebuild",
        action="store_true",
        help="analyse every comment again and re-fit the automatic themes",
    )
    how.add_argument(
        "--update",
        action="store_true",
        help="analyse only comments without results (new or changed)",
    )
    return {"themes": cmd_themes, "comments": add_comments_parser(sub)}


def add_comments_parser(sub: argparse._SubParsersAction) -> Handler:
    """Add the `comments` subcommand (every matching comment streamed to a CSV file, with
    no cap: what the dashboard's export offers beyond its parts); returns its handler."""
    cmd = sub.add_parser("comments", help="export the matching comments as CSV (no cap)")
    add_filter_options(cmd)
    cmd.add_argument("--out", required=True, metavar="FILE.csv", help="the CSV file to write")
    cmd.add_argument("--search", default="", help="case-insensitive text in the comment")
    cmd.add_argument("--band", choices=list(comments.SCORE_BANDS), default="all")
    cmd.add_argument("--sort", choices=list(comments.SORTS), default="newest")
    return cmd_comments


def cmd_comments(store: Store, args: argparse.Namespace) -> None:
    """Stream the matching comments to --out (comments.write_export: a `#` description
    line, the column names, one row per comment); the count goes to stderr."""
    query = comments.CommentQuery(text=args.search, band=args.band, sort=args.sort)
    with open(args.out, "wb") as out:
        written = comments.write_export(out, store, filters_of(args), query)
    print(f"{written:,} comments written to {args.out}", file=sys.stderr)


def stderr_progress() -> Callable[[float, str], None]:
    """A progress callback writing one updating line on stderr."""
    last = {"text": ""}

    def report(fraction: float, message: str) -> None:
        text = f"\r[{fraction * 100:5.1f}%] {message}"
        if text != last["text"]:
            sys.stderr.write(text.ljust(len(last["text"])))
            sys.stderr.flush()
            last["text"] = text
        if fraction >= 1.0:
            sys.stderr.write("\n")
            sys.stderr.flush()

    return report


def _num(x: Any, digits: int = 2) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    return round(float(x), digits)


def impact_json(frame: pd.DataFrame, languages: pd.DataFrame) -> dict[str, Any]:
    """The JSON document of the command: {"languages": [...], "themes": [...]}."""
    themes = []
    for _, r in frame.iterrows():
        sig = r["significant"]
        themes.append({
            "theme": r["theme"], "label": r["label"], "source": r["source"],
            "languages": list(r["languages"]), "n": int(r["n"]),
            "share": _num(r["share"]), "nps_with": _num(r["nps_with"]),
            "nps_without": _num(r["nps_without"]), "nps_impact": _num(r["nps_impact"]),
            "significant": None if sig is pd.NA else bool(sig), "t": _num(r["t"], 3),
            "nps_n_with": int(r["nps_n_with"]), "nps_n_without": int(r["nps_n_without"]),
            "nps_with_ci": [_num(r["nps_with_ci_low"]), _num(r["nps_with_ci_high"])],
            "low_base": bool(r["low_base"]), "suppressed": bool(r["suppressed"]),
            "sentiment_mean": _num(r["sentiment_mean"], 3),
            "sentiment_n": int(r["sentiment_n"]),
        })  # fmt: skip
    langs = [
        {
            "language": None if r["language"] == NOT_SET else r["language"],
            "name": r["name"],
            "comments": int(r["comments"]),
            "sentiment_lexicon": r["lexicon"],
            "sentiment_mean": _num(r["sentiment_mean"], 3),
        }
        for _, r in languages.iterrows()
    ]
    return {"languages": langs, "themes": themes}


def _fmt(value: Any, width: int, digits: int = 1) -> str:
    v = _num(value, digits)
    return f"{'–':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def _sig(value: Any, low_base: bool, suppressed: bool) -> str:
    if suppressed:
        return "n too small"
    if value is pd.NA or low_base:
        return "low base"
    return "yes" if value else "no"


def print_table(frame: pd.DataFrame, languages: pd.DataFrame) -> None:
    """The impact frame as a fixed-width table on stdout."""
    print(
        "comments by language: "
        + ", ".join(
            f"{language_name(None if r['language'] == NOT_SET else r['language'])} "
            f"{int(r['comments']):,}"
            for _, r in languages.iterrows()
        )
    )
    if frame.empty:
        print("no theme is mentioned in these comments")
        return
    comments = int(frame["comments"].iloc[0])
    print(
        f"themes over {comments:,} analysed comments "
        f"(NPS with vs without: other analysed comments)\n"
    )
    head = (
        f"{'theme':<34} {'source':<8} {'languages':<15} {'n':>7} {'share%':>7} "
        f"{'NPS with':>9} {'without':>8} {'impact':>7} {'t':>7}  significant"
    )
    print(head)
    print("-" * len(head))
    for _, r in frame.iterrows():
        print(
            f"{str(r['label'])[:34]:<34} {r['source']:<8} {','.join(r['languages']):<15} "
            f"{int(r['n']):>7} {_fmt(r['share'], 7)} {_fmt(r['nps_with'], 9)} "
            f"{_fmt(r['nps_without'], 8)} {_fmt(r['nps_impact'], 7)} {_fmt(r['t'], 7, 2)}  "
            f"{_sig(r['significant'], bool(r['low_base']), bool(r['suppressed']))}"
        )
    tested = int(frame["comparisons"].iloc[0])
    print(f"\nsignificant: the NPS with vs without differs {corrected_wording(tested)}")


def cmd_themes(store: Store, args: argparse.Namespace) -> None:
    """Compute (--rebuild / --update) and/or show the theme impact."""
    if args.rebuild:
        run = persist.compute_themes(store, stderr_progress())
        print(
            f"themes computed for {run.comments:,} comments in {run.seconds:.1f} s", file=sys.stderr
        )
    elif args.update:
        run = persist.update_themes(store, stderr_progress())
        print(
            f"themes updated: {run.comments:,} comments analysed, {run.removed:,} old "
            f"results removed ({run.seconds:.1f} s)",
            file=sys.stderr,
        )
    elif not persist.has_results(store):
        raise NoData("no themes computed yet: run `python -m cxdata themes --rebuild`")
    source = None if args.source == "all" else args.source
    f, th = filters_of(args), thresholds_of(args)
    frame = impact.theme_impact(store, f, source, th)
    languages = impact.voc_languages(store, f)
    if args.json:
        print(json.dumps(impact_json(frame, languages), ensure_ascii=False, indent=2))
    else:
        print_table(frame, languages)
