"""`python -m cxdata send --due`: send the digests that are due and the new alerts.

Meant for a scheduler (cron, a systemd timer, a Kubernetes CronJob: README "Subscriptions
and alerts"); running it twice in a period sends nothing twice (cxdata.notify.ledger).
Reads the subscriptions file ($CX_SUBSCRIPTIONS_FILE), the access file ($CX_ACCESS_FILE),
the SMTP settings ($CX_SMTP_URL) and the targets ($CX_TARGETS_FILE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

from cxdata import config as settings
from cxdata.access import load_policy
from cxdata.cli_args import Handler
from cxdata.errors import CxError
from cxdata.notify import mail, send
from cxdata.notify.config import SUBSCRIPTIONS_ENV, load_config
from cxdata.notify.render import ChartRenderer, no_charts
from cxdata.report import digest_pdf
from cxdata.store import Store
from cxdata.targets import Targets, targets_or_none

log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `send` subcommand; returns its handler."""
    cmd = sub.add_parser(
        "send",
        help="send the digests that are due and the new alerts (for cron / a timer)",
        description="Digests of the subscriptions whose period has come and alerts whose "
        "condition newly holds, each computed under its recipient's own access. Safe to "
        "run as often as you like: nothing is sent twice.",
    )
    cmd.add_argument("--due", action="store_true", required=True,
                     help="send what is due now (required: says what the command does)")
    cmd.add_argument("--dry-run", type=Path, metavar="DIR",
                     help="write the e-mails as .eml files (webhook bodies as .json) into "
                     "DIR instead of sending; nothing is recorded as sent")
    cmd.add_argument("--today", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                     help="the day to send for (default: today)")
    cmd.add_argument("--only", choices=("digests", "alerts"),
                     help="send only digests or only alerts")
    cmd.add_argument("--no-charts", action="store_true",
                     help="no chart images (no browser is started)")
    return {"send": cmd_send}


def _targets() -> Targets:
    """The admins' targets; none at all (with a warning) when the file is wrong."""
    targets, problem = targets_or_none()
    if problem:
        log.warning("targets not used: %s", problem)
    return targets


def cmd_send(store: Store, args: argparse.Namespace) -> None:
    """Send (or write, with --dry-run) what is due and print one line per message."""
    policy = load_policy()
    config = load_config(policy=policy)
    if config is None:
        raise CxError(f"no subscriptions file: set {SUBSCRIPTIONS_ENV} (README "
                      "\"Subscriptions and alerts\")")
    if args.dry_run is not None and args.dry_run.exists() and not args.dry_run.is_dir():
        raise CxError(f"--dry-run: {str(args.dry_run)!r} is a file, not a folder")
    smtp = mail.smtp_settings()
    if smtp is None and args.dry_run is None:
        raise CxError("no SMTP server configured: set CX_SMTP_URL, or use --dry-run DIR")
    renderer = no_charts() if args.no_charts else ChartRenderer()
    with renderer as charts:
        outcomes = send.send_due(
            store, config, policy, th=settings.thresholds(), targets=_targets(),
            settings=smtp, today=args.today, dry_run=args.dry_run,
            digests=args.only != "alerts", alerts=args.only != "digests", renderer=charts,
            pdf=digest_pdf,
        )  # fmt: skip
    for o in outcomes:
        print(f"{o.status:8} {o.kind:6} {o.recipient}  {o.subject or o.key}"
              + (f"  ({o.detail})" if o.detail else ""))
    failed = sum(o.status == "failed" for o in outcomes)
    print(f"{len(outcomes)} message(s): "
          + ", ".join(f"{sum(o.status == s for o in outcomes)} {s}"
                      for s in ("sent", "dry-run", "skipped", "failed")))
    if failed:
        raise CxError(f"{failed} message(s) could not be sent; they are tried again next run")

