"""`python -m cxdata suggest-mapping PATH` and `python -m cxdata import PATH …`.

`add_parsers` adds both subcommands to the main parser and returns their handlers, each
called as `handler(store, args)`; errors are CxError / ValueError with one clear line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from cxdata.importing import dates
from cxdata.importing.datasets import data_dir_of
from cxdata.importing.errors import DateOrderUndecided
from cxdata.importing.load import MODES, ImportResult, import_source, read_with_mapping
from cxdata.importing.mapping import DATASETS, Mapping
from cxdata.importing.platforms import platform_label
from cxdata.importing.profiles import save_profile
from cxdata.store import Store


def add_parsers(
    sub: argparse._SubParsersAction,
) -> dict[str, Callable[[Store, argparse.Namespace], None]]:
    """Add `suggest-mapping` and `import` to `sub`; returns command name → handler."""
    suggest = sub.add_parser(
        "suggest-mapping", help="print the suggested column mapping of a file as JSON"
    )
    suggest.add_argument("path", help="CSV/TSV, Excel or Parquet file")
    suggest.add_argument("--dataset", choices=DATASETS, default=None)
    suggest.add_argument("--sheet", help="Excel sheet (default: the first)")
    suggest.add_argument(
        "--save-profile", metavar="NAME", help="also save the suggestion as a named mapping profile"
    )

    imp = sub.add_parser("import", help="import a file (every bad row is reported)")
    imp.add_argument("path", help="CSV/TSV, Excel or Parquet file")
    imp.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="target dataset (default: the mapping's, else responses)",
    )
    source = imp.add_mutually_exclusive_group()
    source.add_argument("--mapping", metavar="FILE.json", help="mapping file (JSON)")
    source.add_argument("--profile", metavar="NAME", help="saved mapping profile")
    imp.add_argument("--mode", choices=MODES, default="append")
    for command in (suggest, imp):
        command.add_argument(
            "--date-order",
            choices=("dmy", "mdy"),
            help="day/month order of numeric dates, when the file does not decide it",
        )
    imp.add_argument("--sheet", help="Excel sheet (default: the mapping's, else the first)")
    imp.add_argument(
        "--save-profile",
        metavar="NAME",
        help="save the mapping used as a named profile for the next export",
    )
    imp.add_argument("--json", action="store_true", help="print the result as JSON")
    for command in (suggest, imp):
        command.add_argument(
            "--header-row",
            type=int,
            metavar="N",
            help="line (CSV) or sheet row (Excel) of the column headers (default: found)",
        )
    return {"suggest-mapping": cmd_suggest_mapping, "import": cmd_import}


def cmd_suggest_mapping(store: Store, args: argparse.Namespace) -> None:
    """Print the mapping that `import` would use: a saved profile for this file shape, else
    the suggestion; warnings go to stderr so stdout stays valid JSON."""
    data_dir = data_dir_of(store)
    _, mapping = read_with_mapping(
        store, args.path, dataset=args.dataset, sheet=args.sheet, header_row=args.header_row
    )
    if args.date_order:
        set_date_order(mapping, args.date_order)
    if args.save_profile:
        save_profile(mapping, args.save_profile, data_dir)
    print(mapping.to_json())
    if mapping.profile:
        print(f"from the saved profile {mapping.profile!r}", file=sys.stderr)
    if mapping.platform:
        print(f"recognised: {platform_label(mapping.platform)} export", file=sys.stderr)
    for note in mapping.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in mapping.warnings():
        print(f"warning: {warning}", file=sys.stderr)


def cmd_import(store: Store, args: argparse.Namespace) -> None:
    """Import a file and print read / imported / rejected and where the rejects are."""
    started = time.perf_counter()
    mapping = Mapping.from_file(args.mapping) if args.mapping else None
    source, mapping = read_with_mapping(
        store,
        args.path,
        mapping=mapping,
        profile=args.profile,
        dataset=args.dataset,
        sheet=args.sheet,
        header_row=args.header_row,
    )
    if args.date_order:
        set_date_order(mapping, args.date_order)
    try:
        result = import_source(store, source, mapping, mode=args.mode)
    except DateOrderUndecided as exc:
        asked = str(exc).removesuffix("; set the date order (dmy or mdy)")
        raise DateOrderUndecided(f"{asked}: run again with --date-order dmy or mdy") from None
    result.seconds = round(time.perf_counter() - started, 3)
    if args.save_profile:
        save_profile(mapping, args.save_profile, data_dir_of(store))
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    print(summary(result))


def set_date_order(mapping: Mapping, order: str) -> None:
    """Set the day/month order chosen by the user; the suggestion's "undecided" warning on
    the date column no longer applies."""
    mapping.date_order = dates.normalise_order(order)
    for col in mapping.columns:
        if col.to == "submitted_at" and "undecided" in col.warning:
            col.warning = ""


def summary(result: ImportResult) -> str:
    """Human-readable lines for an import."""
    lines = [
        f"{result.source} → {result.dataset} ({result.mode}): read {result.read}, "
        f"imported {result.imported}, rejected {result.rejected}, already stored "
        f"{result.already_stored} ({result.seconds:.1f} s)",
    ]
    if result.platform:
        lines.append(f"recognised: {result.platform} export")
    if result.rejects_file:
        lines.append(f"rejected rows: {result.rejects_file}")
    if result.ratings:
        lines.append(f"touchpoint ratings stored: {result.ratings}")
    lines += [f"left out: {col} ({why})" for col, why in result.left_out.items()]
    lines += [f"note: {w}" for w in result.warnings]
    return "\n".join(lines)
