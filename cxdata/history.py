"""The store's change log and undo: every write to the lake is one snapshot, recorded with
who made it, when, what kind of change it was and its rows (cxdata.lake.Commit); an import,
a demo load, a replace or a delete can be undone.

Undo works from the lake's own record of that snapshot (DuckLake keeps every snapshot until
maintenance expires it, `python -m cxdata maintain`):
- rows the change appended are deleted by their row ids (ducklake_table_insertions), so the
  rows of later imports stay exactly as they are;
- a dataset the change replaced, emptied or deleted is put back as it was just before it,
  which copies the whole dataset (it costs what an import of that size costs), and is
  refused when a later change touched that dataset (undo those first);
- the rows of other datasets that point at removed responses (comment themes, the analysed
  comments, touchpoint ratings) are deleted with them.
The undo is itself a change in the log (kind `undo`), and a change is undone at most once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pandas as pd

from cxdata import lake, schema
from cxdata.errors import CxError, NoData
from cxdata.store import CUSTOMER_DATASETS, Store, WriteOp

UNDOABLE_OPS = ("append", "replace", "delete", "drop")


@dataclass(frozen=True)
class Change:
    """One snapshot of the lake: `snapshot` id, `at` (UTC), `author`, `kind` (import, demo,
    replace, delete, themes, undo, convert, write), the imported `file` and `mode` when it
    was an import, `rows` written per dataset, `ops` ("append responses", …), the snapshot
    it `undoes`, and the snapshot that undid it (`undone_by`)."""

    snapshot: int
    at: dt.datetime
    author: str
    kind: str
    file: str = ""
    mode: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    ops: tuple[str, ...] = ()
    undoes: int | None = None
    undone_by: int | None = None

    @property
    def undoable(self) -> bool:
        """Whether this change wrote customer datasets (responses, touchpoint ratings,
        metrics) that undo can take back, and is not an undo and not yet undone. Theme runs
        are not offered: they are recomputed from the responses."""
        return (
            self.kind not in ("undo", "themes", "convert")
            and self.undone_by is None
            and any(
                kind in UNDOABLE_OPS and name in CUSTOMER_DATASETS
                for kind, name in map(_op, self.ops)
            )
        )


def _op(text: str) -> tuple[str, str]:
    kind, _, name = text.partition(" ")
    return kind, name


def _require_log(store: Store) -> None:
    if not store.is_embedded:
        raise CxError("the change log and undo need the embedded store (a lake); a "
                      "warehouse keeps its own history")
    if store.restrict:  # the log counts rows of the whole store
        raise CxError("a restricted view cannot read the change log")


def changes(store: Store) -> list[Change]:
    """Every recorded change, newest first (snapshots without a record — the lake's own
    first one — are left out). Raises CxError on a warehouse or a restricted Store."""
    _require_log(store)
    cur = store.cursor()
    try:  # timezone('UTC', …): `at` in UTC whatever the process's time zone
        rows = cur.execute(
            f"SELECT snapshot_id, timezone('UTC', snapshot_time), author, commit_message, "
            f"commit_extra_info FROM ducklake_snapshots('{lake.ALIAS}') "
            "WHERE commit_message IS NOT NULL ORDER BY snapshot_id DESC"
        ).fetchall()
    finally:
        cur.close()
    parsed: list[Change] = []
    for snapshot, at, author, kind, extra in rows:
        try:
            details = json.loads(extra or "{}")
        except json.JSONDecodeError:
            details = {}
        parsed.append(
            Change(
                snapshot=int(snapshot),
                at=at,
                author=author or "",
                kind=kind,
                file=str(details.get("file", "")),
                mode=str(details.get("mode", "")),
                rows={str(k): int(v) for k, v in dict(details.get("rows", {})).items()},
                ops=tuple(details.get("ops", ())),
                undoes=details.get("undoes"),
            )
        )
    undone = {c.undoes: c.snapshot for c in parsed if c.undoes is not None}
    return [
        Change(**{**c.__dict__, "undone_by": undone.get(c.snapshot)}) for c in parsed
    ]


def changes_frame(store: Store) -> pd.DataFrame:
    """changes() as a table for the Data page and the CLI: one row a change, newest first,
    with columns snapshot, at, author, kind, file, mode, rows (text), undone_by."""
    out = pd.DataFrame(
        [
            {
                "snapshot": c.snapshot,
                "at": c.at,
                "author": c.author,
                "kind": c.kind,
                "file": c.file,
                "mode": c.mode,
                "rows": ", ".join(f"{n}: {v:,}" for n, v in sorted(c.rows.items())),
                "undoes": c.undoes,
                "undone_by": c.undone_by,
                "undoable": c.undoable,
            }
            for c in changes(store)
        ],
        columns=["snapshot", "at", "author", "kind", "file", "mode", "rows", "undoes",
                 "undone_by", "undoable"],
    )
    return out


def undo(store: Store, snapshot: int) -> Change:
    """Take back the change `snapshot` (see the module docstring); returns the undo's own
    record. Needs the "manage" right (cxdata.roles). Raises NoData for an unknown snapshot,
    CxError when it cannot be undone (an undo, already undone, nothing undoable, expired by
    maintenance, or a later change touched a dataset it replaced)."""
    store.require_write("manage", "undo a change")
    log = changes(store)
    target = next((c for c in log if c.snapshot == snapshot), None)
    if target is None:
        raise NoData(
            f"no change {snapshot} in the log (`python -m cxdata imports` lists them; "
            "maintenance forgets changes older than its --keep-days)"
        )
    if target.undone_by is not None:
        raise CxError(f"change {snapshot} was already undone by change {target.undone_by}")
    if not target.undoable:
        raise CxError(f"change {snapshot} ({target.kind}) wrote no rows that can be undone")
    later = [c for c in log if c.snapshot > snapshot]
    cur = store.cursor()
    try:
        statements, removed = _undo_statements(cur, target, later)
    finally:
        cur.close()
    record = lake.Commit("undo", details={"undoes": snapshot, "rows": removed,
                                          "ops": [f"undo {o}" for o in target.ops]})
    store.apply([WriteOp.sql(s) for s in statements], record)
    return changes(store)[0]


def _undo_statements(cur, target: Change, later: list[Change]) -> tuple[list[str], dict[str, int]]:  # type: ignore[no-untyped-def]
    """The SQL that takes back `target`, and the rows it removes per dataset (negative)."""
    s = target.snapshot
    statements: list[str] = []
    removed: dict[str, int] = {}
    restored = []
    for text in target.ops:
        kind, name = _op(text)
        if kind == "append":
            inserted = f"ducklake_table_insertions('{lake.ALIAS}', 'main', '{name}', {s}, {s})"
            try:
                n = cur.execute(f"SELECT count(*) FROM {inserted}").fetchone()
            except Exception as exc:  # the table or the snapshot is gone (maintenance)
                raise CxError(
                    f"change {s} can no longer be undone: its rows of {name} are no longer "
                    f"in the log ({str(exc).splitlines()[0]})"
                ) from exc
            removed[name] = -int(n[0] if n else 0)
            if name == schema.RESPONSES:  # first: the rows pointing at the removed responses
                statements += [
                    f'DELETE FROM "{table}" WHERE response_id IN (SELECT response_id FROM '
                    f'{inserted}) AND response_id NOT IN (SELECT response_id FROM '
                    f'"{name}" WHERE response_id IS NOT NULL AND rowid NOT IN '
                    f"(SELECT rowid FROM {inserted}))"
                    for table in _response_tables(cur)
                    if f"append {table}" not in target.ops
                ]
            statements.append(
                f'DELETE FROM "{name}" WHERE rowid IN (SELECT rowid FROM {inserted})'
            )
        elif kind in ("replace", "delete", "drop"):
            touched = [c.snapshot for c in later if any(_op(o)[1] == name and _op(o)[0] in
                                                        UNDOABLE_OPS for o in c.ops)]
            if touched:
                raise CxError(
                    f"change {s} replaced {name}, which later changes "
                    f"({', '.join(map(str, sorted(touched)))}) changed again: undo those first"
                )
            restored.append(name)
    for name in restored:
        now = _rows_at(cur, name, None)
        before = _rows_at(cur, name, s - 1)
        if before is not None:
            statements.append(
                f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM "{name}" '
                f"AT (VERSION => {s - 1})"
            )
        else:  # the change created it
            statements.append(f'DROP TABLE IF EXISTS "{name}"')
        removed[name] = (before or 0) - (now or 0)
    return statements, removed


def _rows_at(cur, name: str, version: int | None) -> int | None:  # type: ignore[no-untyped-def]
    """The rows of the dataset `name` in snapshot `version` (None: now), or None when it
    did not exist then."""
    at = "" if version is None else f" AT (VERSION => {version})"
    try:
        row = cur.execute(f'SELECT count(*) FROM "{name}"{at}').fetchone()
    except Exception:  # no such table at that snapshot
        return None
    return int(row[0]) if row else 0


def _response_tables(cur) -> list[str]:  # type: ignore[no-untyped-def]
    """The datasets other than the responses that hold a response_id column."""
    rows = cur.execute(
        "SELECT table_name FROM duckdb_columns() WHERE database_name = ? "
        "AND column_name = 'response_id' AND table_name <> ?",
        [lake.ALIAS, schema.RESPONSES],
    ).fetchall()
    return sorted({r[0] for r in rows})
