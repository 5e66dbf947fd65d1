"""`python -m cxdata report`: one dashboard view as a board report, HTML or PDF
(cxdata.report)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from cxdata import config
from cxdata.cli_args import Handler
from cxdata.errors import CxError
from cxdata.notify.render import ChartRenderer
from cxdata.report import PAGES, page_of, parse_view, report_pdf, view_report
from cxdata.store import Store
from cxdata.targets import Targets, targets_or_none


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `report` subcommand; returns its handler."""
    cmd = sub.add_parser(
        "report",
        help="a dashboard view as a self-contained HTML or PDF report",
        description="Writes the view of a dashboard URL (title, period and filters, KPI "
        "tiles, the page's charts and the numbers behind them with their n, definitions) "
        "as one HTML file that opens offline, or as an A4 PDF printed by headless Chromium. "
        f"Pages: {', '.join(PAGES)}; any other path gives the Overview.",
    )
    cmd.add_argument(
        "--view", required=True, metavar="URL",
        help="the view: a full dashboard URL or its path and query, e.g. "
        "'/trends?period=12m&split=region'",
    )  # fmt: skip
    cmd.add_argument("--format", choices=("html", "pdf"), default="html")
    cmd.add_argument(
        "--out", type=Path, help="the file to write (default: report-<page>-<date>.<format>)"
    )
    cmd.add_argument("--title", help="the report's title (default: '<Page> report')")
    return {"report": cmd_report}


def _targets() -> Targets:
    """The admins' targets; a broken targets file leaves them out (as the dashboard does),
    saying so on stderr."""
    targets, problem = targets_or_none()
    if problem:
        print(f"python -m cxdata report: warning: no targets shown: {problem}", file=sys.stderr)
    return targets


def cmd_report(store: Store, args: argparse.Namespace) -> None:
    """Write the report of `--view` and print its path."""
    path, params, base = parse_view(args.view)
    page, _ = page_of(path)
    title = args.title or f"{PAGES[page]} report"
    today = dt.date.today()
    with ChartRenderer() as renderer:
        report = view_report(store, path, params, th=config.thresholds(), targets=_targets(),
                             title=title, renderer=renderer, today=today, base_url=base)
    out = args.out or Path(f"report-{page}-{today.isoformat()}.{args.format}")
    if not out.parent.is_dir():
        raise CxError(f"--out: the folder {str(out.parent)!r} does not exist")
    data = report_pdf(report.html) if args.format == "pdf" else report.html.encode("utf-8")
    out.write_bytes(data)
    print(out)
