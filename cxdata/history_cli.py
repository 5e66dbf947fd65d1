"""`python -m cxdata imports | undo | maintain`: the store's change log, undo of an import,
and lake maintenance from the command line (cron-safe beside running dashboards)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd

from cxdata import history, lake
from cxdata.cli_args import Handler, positive_int
from cxdata.errors import CxError
from cxdata.store import Store


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `imports`, `undo` and `maintain` subcommands; returns their handlers."""
    imports = sub.add_parser("imports", help="the store's change log: imports, undos, …")
    imports.add_argument("--json", action="store_true")
    imports.add_argument("--limit", type=positive_int, default=50, help="newest N (50)")
    undo = sub.add_parser("undo", help="take back one import (or replace, delete, demo)")
    undo.add_argument("change", type=int, metavar="IMPORT_ID",
                      help="the change's id, as `imports` lists it")
    maintain = sub.add_parser(
        "maintain", help="expire old snapshots, merge small files, delete unused files"
    )
    maintain.add_argument("--keep-days", type=int, default=30,
                          help="keep snapshots (undo, time travel) this many days (30)")
    maintain.add_argument("--grace-hours", type=float, default=24,
                          help="delete unused files only this long after they became "
                          "unused, for readers still on them (24)")
    return {"imports": cmd_imports, "undo": cmd_undo, "maintain": cmd_maintain}


def cmd_imports(store: Store, args: argparse.Namespace) -> None:
    if args.json:
        log = [
            {**dataclasses.asdict(c), "at": c.at.isoformat(), "undoable": c.undoable}
            for c in history.changes(store)[: args.limit]
        ]
        print(json.dumps(log, ensure_ascii=False, indent=2))
        return
    frame = history.changes_frame(store).head(args.limit)
    if frame.empty:
        print("no changes recorded yet")
        return
    for row in frame.itertuples():
        what = f"{row.kind}{f' ({row.mode})' if row.mode else ''}"
        note = f"  undone by {int(row.undone_by)}" if pd.notna(row.undone_by) else ""
        print(f"{row.snapshot:>6}  {str(row.at)[:19]}  {row.author:<24} {what:<18} "
              f"{row.file or '-':<28} {row.rows or '-'}{note}")


def cmd_undo(store: Store, args: argparse.Namespace) -> None:
    done = history.undo(store, args.change)
    rows = ", ".join(f"{name}: {n:+,} rows" for name, n in sorted(done.rows.items()))
    print(f"change {args.change} undone ({rows or 'datasets restored'}); the undo is change "
          f"{done.snapshot}")


def cmd_maintain(store: Store, args: argparse.Namespace) -> None:
    if not store.is_embedded or store.raw is None:
        raise CxError("maintain works on the embedded store (a lake), not a warehouse")
    store.require_write("manage", "maintain the store")
    done = lake.maintain(store.raw, Path(store.location), keep_days=args.keep_days,
                         grace_hours=args.grace_hours)
    print(f"{done.expired} snapshots expired, {done.merged} small files merged, "
          f"{done.deleted} unused files deleted")
