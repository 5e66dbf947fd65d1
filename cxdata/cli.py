"""`python -m cxdata …`: demo data, KPIs, trends and friction from the command line.

Errors print one line on stderr and exit non-zero: 2 for bad arguments, 1 for data errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import duckdb
import pandas as pd

from cxdata import queries, schema
from cxdata.access import AccessDenied, load_policy
from cxdata.annotations_cli import WRITING as ANNOTATE_WRITES
from cxdata.annotations_cli import add_parsers as add_annotation_parsers
from cxdata.cli_args import (
    Parser,
    add_filter_options,
    filters_of,
    positive_int,
    thresholds_of,
)
from cxdata.config import data_dir
from cxdata.drivers_cli import add_parsers as add_drivers_parsers
from cxdata.errors import CxError
from cxdata.explain_cli import add_parsers as add_explain_parsers
from cxdata.history_cli import add_parsers as add_history_parsers
from cxdata.importing.cli import add_parsers as add_import_parsers
from cxdata.metrics import METRICS
from cxdata.notify.cli import add_parsers as add_send_parsers
from cxdata.report_cli import add_parsers as add_report_parsers
from cxdata.scores import metric_columns
from cxdata.store import Store, close, connect, engine_errors
from cxdata.textsafe import terminal_safe
from cxdata.voc.cli import add_parsers as add_voc_parsers


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = Parser(prog="python -m cxdata", description="CX analytics engine")
    p.add_argument("--data-dir", help="embedded store directory (default $CX_DATA_DIR or ./data)")
    p.add_argument("--url", help="warehouse connection URL (default $CX_DATABASE_URL)")
    p.add_argument(
        "--as-user",
        metavar="EMAIL",
        help="apply this user's role and row restriction from $CX_ACCESS_FILE",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    demo = sub.add_parser("demo", help="generate and store the demo datasets")
    demo.add_argument("--rows", type=positive_int, default=None)
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument(
        "--skip-themes",
        action="store_true",
        help="do not analyse the comments' themes now (takes a few seconds)",
    )

    def filtered(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        add_filter_options(cmd)
        return cmd

    kpis = filtered("kpis", "NPS, CSAT, CES and friction with CIs")
    kpis.add_argument("--by", help="also break down by this dimension")
    kpis.add_argument("--json", action="store_true")

    trend = filtered("trend", "a metric over time, CSV on stdout")
    trend.add_argument("--grain", choices=sorted(queries.GRAINS), default="week")
    trend.add_argument("--metric", default="nps", help=f"one of {', '.join(METRICS)}")
    trend.add_argument("--by")
    trend.add_argument("--top", type=positive_int, default=None)

    friction = filtered("friction", "friction matrix, CSV on stdout")
    friction.add_argument("--rows", default="touchpoint")
    friction.add_argument("--cols", default="journey_stage")
    friction.add_argument("--metric", default="friction", help=f"one of {', '.join(METRICS)}")
    COMMANDS.update(add_import_parsers(sub))
    COMMANDS.update(add_voc_parsers(sub))
    COMMANDS.update(add_history_parsers(sub))
    COMMANDS.update(add_explain_parsers(sub))
    COMMANDS.update(add_drivers_parsers(sub))
    COMMANDS.update(add_send_parsers(sub))
    COMMANDS.update(add_annotation_parsers(sub))
    COMMANDS.update(add_report_parsers(sub))
    return p


def _fmt(score: queries.Score) -> str:
    if score.suppressed:
        return f"n too small (n={score.n})"
    flag = "  low base" if score.low_base else ""
    return f"{score.value:8.2f}  [{score.ci_low:.2f}, {score.ci_high:.2f}]  n={score.n}{flag}"


def cmd_demo(store: Store, args: argparse.Namespace) -> None:
    from cxdata import demo

    started = time.perf_counter()
    rows = args.rows or demo.DEFAULT_ROWS
    seed = demo.DEFAULT_SEED if args.seed is None else args.seed
    demo.store_demo(store, rows=rows, seed=seed)
    took = time.perf_counter() - started
    print(
        f"demo data: {rows} responses and {store.row_count(schema.METRICS)} metric points "
        f"stored in {store.location} ({took:.1f} s)"
    )
    if not args.skip_themes:
        from cxdata.voc.cli import stderr_progress
        from cxdata.voc.persist import compute_themes

        started = time.perf_counter()
        compute_themes(store, stderr_progress())
        print(f"comment themes computed ({time.perf_counter() - started:.1f} s)")


def cmd_kpis(store: Store, args: argparse.Namespace) -> None:
    f, th = filters_of(args), thresholds_of(args)
    result = queries.kpis(store, f, th)
    by = queries.kpis_by(store, f, args.by, th) if args.by else None
    if args.json:
        out = result.as_dict()
        if by is not None:
            out["by"] = {k: v.as_dict() for k, v in by.items()}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    print(f"responses  {result.responses}")
    for m in queries.HEADLINE:
        print(f"{METRICS[m].label:<20} {_fmt(result.score(m))}")
    for value, k in (by or {}).items():
        print(f"\n{args.by} = {value}  (responses {k.responses})")
        for m in queries.HEADLINE:
            print(f"  {METRICS[m].label:<20} {_fmt(k.score(m))}")


def cmd_trend(store: Store, args: argparse.Namespace) -> None:
    frame = queries.trend(
        store, filters_of(args), args.grain, args.by, args.top, thresholds_of(args)
    )
    keys = ["period", args.by] if args.by else ["period"]
    out = pd.concat([frame[keys], metric_columns(frame, args.metric)], axis=1)
    out.insert(len(keys), "metric", args.metric)
    out["period"] = out["period"].dt.date
    out.to_csv(sys.stdout, index=False, float_format="%.4f")


def cmd_friction(store: Store, args: argparse.Namespace) -> None:
    frame = queries.friction_matrix(
        store, filters_of(args), args.rows, args.cols, args.metric, thresholds_of(args)
    )
    frame.insert(2, "metric", args.metric)
    frame.to_csv(sys.stdout, index=False, float_format="%.4f")


COMMANDS: dict[str, Callable[[Store, argparse.Namespace], None]] = {
    "demo": cmd_demo,
    "kpis": cmd_kpis,
    "trend": cmd_trend,
    "friction": cmd_friction,
}


# Commands that only read the responses: one snapshot, and they wait for maintenance as
# dashboard runs do (Store.reading; a query beside maintenance could fail).
ONE_SNAPSHOT: frozenset[str] = frozenset({"kpis", "trend", "friction"})

# The action each command needs (access.ACTIONS); commands not listed only read.
NEEDS: dict[str, str] = {
    "demo": "manage", "import": "import", "undo": "manage", "maintain": "manage",
    "imports": "manage",  # the log counts rows of the whole store
}
# Commands that may create the data directory: those that write, and suggest-mapping (the
# import's first step, which may save a profile). The others never create it.
CREATES: frozenset[str] = frozenset({"demo", "import", "suggest-mapping"})


def _creates(args: argparse.Namespace) -> bool:
    """Whether the command writes, so a missing data directory is made (a read-only one
    reports the missing directory instead of creating an empty one)."""
    return args.command in CREATES or bool(
        getattr(args, "rebuild", False) or getattr(args, "update", False)
    )


def _scoped(store: Store, args: argparse.Namespace) -> Store:
    """The store as `--as-user` may see it; unrestricted without an access file."""
    policy = load_policy()
    if args.as_user is None or policy is None:
        return store
    grant = policy.require(args.as_user)
    action = NEEDS.get(args.command, "view")
    if getattr(args, "rebuild", False) or getattr(args, "update", False):
        action = "import"  # `themes --rebuild / --update` write results
    if getattr(args, "annotate_action", None) in ANNOTATE_WRITES:
        action = "import"  # `annotate add / delete` write
    if not grant.can(action):
        raise AccessDenied(f"{args.as_user} is a {grant.role} and may not {action} data")
    return grant.scoped(store).by(args.as_user)


@terminal_safe  # data in the output (names, values, file names) never drives the terminal
def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    opened = args.data_dir or data_dir()
    try:
        store = _scoped(connect(args.data_dir, args.url, create=_creates(args)), args)
        with engine_errors(store), (
            store.reading() if args.command in ONE_SNAPSHOT else nullcontext()
        ):  # a damaged file, a full disk…: one line
            COMMANDS[args.command](store, args)
    except (CxError, ValueError) as exc:
        print(f"python -m cxdata {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:  # any other engine error: its first line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"python -m cxdata {args.command}: error: {first}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter exit quiet
        return 0
    finally:
        close(opened)  # the command's own connection only (main() may run in a process that
        # keeps other stores open)
    return 0
