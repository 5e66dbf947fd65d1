"""Argument types and the shared filter options of the `python -m cxdata` subcommands.

Every subcommand that reads filtered data takes the same `--from/--to/--where/--min-n`
options (`add_filter_options`) and turns them into a Filters and Thresholds value
(`filters_of`, `thresholds_of`).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import NoReturn

from cxdata import config
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.store import Store

# A subcommand's handler: it runs on the (scoped) store with the parsed arguments.
Handler = Callable[[Store, argparse.Namespace], None]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2 (no usage)."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with `prog: error: message`."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def iso_date(text: str) -> dt.date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def dim_value(text: str) -> tuple[str, str]:
    """An argparse type: `DIM=VALUE` as (dim, value), both stripped and non-empty."""
    dim, sep, value = text.partition("=")
    if not sep or not dim.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected DIM=VALUE, got {text!r}")
    return dim.strip(), value.strip()


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: 0 or a positive integer (e.g. a number of bootstrap resamples,
    where 0 means none)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text!r}")
    return value


def add_filter_options(cmd: argparse.ArgumentParser) -> None:
    """Add `--from`, `--to`, `--where DIM=VALUE` (repeatable) and `--min-n` to `cmd`."""
    cmd.add_argument("--from", dest="start", type=iso_date)
    cmd.add_argument("--to", dest="end", type=iso_date)
    cmd.add_argument(
        "--where",
        type=dim_value,
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="repeatable; one dimension repeated = IN",
    )
    cmd.add_argument("--min-n", type=positive_int, default=None)


def filters_of(args: argparse.Namespace) -> Filters:
    """The Filters of parsed filter options; a dimension given twice is an IN-list."""
    where: dict[str, list[str]] = {}
    for dim, value in args.where:
        where.setdefault(dim, []).append(value)
    return Filters.make(args.start, args.end, where)


def thresholds_of(args: argparse.Namespace) -> Thresholds:
    """The configured Thresholds, with `--min-n` (if given) replacing min_n.

    The low-base threshold is raised to at least min_n.
    """
    base = config.thresholds()
    if args.min_n is None:
        return base
    return Thresholds(min_n=args.min_n, low_base=max(base.low_base, args.min_n))
