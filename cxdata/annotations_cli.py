"""`python -m cxdata annotate add | list | delete`: the events drawn on the trend charts
(cxdata.annotations)."""

from __future__ import annotations

import argparse
import json

from cxdata import annotations
from cxdata.cli_args import Handler, Parser
from cxdata.store import Store

# The annotate actions that write, and so need the "import" right (cxdata.cli._scoped).
WRITING: frozenset[str] = frozenset({"add", "delete"})


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add the `annotate` subcommand with its actions; returns its handler."""
    cmd = sub.add_parser("annotate", help="events drawn on the trend charts: add, list, delete")
    actions = cmd.add_subparsers(dest="annotate_action", required=True, parser_class=Parser)
    add = actions.add_parser("add", help="add an annotation (needs the analyst role)")
    add.add_argument("--date", required=True, help="the day of the event, YYYY-MM-DD")
    add.add_argument("--label", required=True,
                     help=f"what happened, 1–{annotations.MAX_LABEL} characters")
    add.add_argument("--scope", metavar="DIM=VALUE", default=None,
                     help="only where DIM is VALUE (e.g. region=Oslo); default: everywhere")
    listing = actions.add_parser("list", help="every annotation, oldest first")
    listing.add_argument("--json", action="store_true")
    delete = actions.add_parser("delete", help="delete one annotation by its id")
    delete.add_argument("id", metavar="ID", help="the annotation's id, as `list` shows it")
    return {"annotate": cmd_annotate}


def cmd_annotate(store: Store, args: argparse.Namespace) -> None:
    action = args.annotate_action
    if action == "add":
        scope = annotations.parse_scope(args.scope)
        ident = annotations.add_annotation(store, args.date, args.label, scope)
        print(f"annotation {ident} added")
    elif action == "delete":
        annotations.delete_annotation(store, args.id)
        print(f"annotation {args.id} deleted")
    else:
        frame = annotations.list_annotations(store)
        if args.json:
            print(json.dumps(annotations.as_records(frame), ensure_ascii=False, indent=2))
            return
        if frame.empty:
            print("no annotations yet")
            return
        for r in frame.itertuples(index=False):
            print(f"{r.id}  {r.date}  {r.label}" + (f"  [{r.scope}]" if r.scope else "")
                  + f"  ({r.author})")
