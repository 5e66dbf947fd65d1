"""The store: an embedded DuckLake in the data directory (default, cxdata.lake) or any
Ibis backend behind a URL.

Any number of processes open the same lake; Ibis backends are not thread-safe
(ibis#10346). So: one raw DuckDB connection per process and data directory (the lake
attached to it), and every Store gets its own cursor on it. A Store must not be shared
between threads; make one per thread or per Streamlit session with `connect()`.

Every write goes through `Store.apply(ops)`: one transaction — one lake snapshot, recorded
with who made it and what it was (cxdata.lake.Commit) — under the data directory's write
lock; op by op elsewhere; with the role and restriction check made once, there.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxdata import config, faults, lake, schema
from cxdata.errors import CxError, NoData
from cxdata.filters import in_list
from cxdata.lake import Commit
from cxdata.roles import ROLES, require_role

DB_FILE = lake.CATALOG_FILE  # the file that names the store in messages
# Replacing these datasets (not appending), deleting rows of them or deleting any dataset
# is "manage" (admin); every other write — appends, the theme model — is "import"
# (analyst). See cxdata.roles and Store.apply.
CUSTOMER_DATASETS: frozenset[str] = frozenset(
    {schema.RESPONSES, schema.TOUCHPOINT_RATINGS, schema.METRICS}
)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# Tables that are no dataset: a replacement being built (apply), and the in-memory tables
# Ibis registers for rows written through it (kept until the process exits).
_NOT_A_DATASET = re.compile(r"__new$|^ibis_\w+_memtable_[a-z2-7]{26}$")

_lock = threading.Lock()
_raw: dict[Path, duckdb.DuckDBPyConnection] = {}
# Bumped by every write and every (re)opened lake connection in this process. A Store's
# cached catalog (table names, schemas) is current while the generation and the lake
# snapshot it last saw (Store.refresh) are unchanged: other processes' writes show up at
# the next refresh.
_generation = 0
# Store.reading's open read transactions: id of the cursor → its lake.hold_snapshot
_READING: dict[int, int] = {}
# Store.small_table's frames by (Store.read_scope, name)
_SMALL_TABLES: dict[tuple[object, ...], pd.DataFrame] = {}
_SMALL_TABLES_KEPT = 64


def _bump_generation() -> None:
    with _lock:
        _advance_generation()


def _advance_generation() -> None:
    """_bump_generation for a caller that already holds _lock."""
    global _generation
    _generation += 1


Rows = pd.DataFrame | pa.Table


@dataclass(frozen=True, eq=False)
class Chunks:
    """The rows of one replace or append arriving in parts, so that they never need to be
    in memory all at once (cxdata.demo stores 10M rows this way).

    `parts` yields DataFrames or Arrow tables with the same columns (at least one part);
    it is consumed once, inside the write's transaction: the first part before the write
    lock is taken, the rest while the table is written. `rows` is their total when known
    (recorded in the commit). The embedded store streams the parts into the table in the
    order they come (no sort by date: that would need every row at once) and computes the
    derived columns part by part; other backends collect the parts first. An exception
    raised while producing a part aborts the whole write (nothing changes) and is raised
    again as it was.
    """

    parts: Iterable[Rows]
    rows: int | None = None


class _Stream:
    """Chunks as one Arrow stream for DuckDB, each part conformed to the first one's types;
    keeps the producer's exception (DuckDB reports it as text only)."""

    def __init__(self, name: str, chunks: Chunks) -> None:
        parts = iter(chunks.parts)
        first = next(parts, None)
        if first is None:
            raise ValueError(f"the rows of {name} came in no parts")
        head = [conformed(name, first)]
        del first
        self.rows = chunks.rows
        self.error: BaseException | None = None
        self.schema = head[0].schema

        def conform(part: Rows) -> pa.Table:
            return conformed(name, part).select(self.schema.names).cast(self.schema)

        def tables() -> Iterator[pa.Table]:
            yield head.pop()  # nothing here keeps a part (or its frame) once it is written
            yield from map(conform, parts)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for table in tables():
                    yield from table.to_batches()
            except BaseException as exc:
                self.error = exc
                raise

        self.reader = pa.RecordBatchReader.from_batches(self.schema, batches())


OP_KINDS: tuple[str, ...] = (
    "replace", "append", "delete", "fill_from", "drop", "sql", "insert_select"
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class WriteOp:
    """One change to a dataset, for Store.apply. Make it with the class methods:

    - `replace(name, rows)`: the dataset becomes `rows` (built beside the old one, swapped in);
    - `append(name, rows)`: `rows` added (by column name); a dataset that does not exist yet
      is created. The embedded store adds the columns the dataset lacks (as strings); other
      backends need them to exist;
    - `delete_ids(name, ids, key)`: the rows whose `key` is one of `ids` removed;
    - `delete_where(name, column, value)`: the rows whose `column` equals `value` removed;
    - `fill_from(name, column, source, key)`: `column` (added as a string column if missing)
      set from `source`'s `column` on equal `key`, where it is missing or blank and the
      source has a value. The embedded store only (in the same transaction); other backends
      leave the dataset as it is (a warehouse's rows are never rewritten for it);
    - `drop(name)`: the dataset deleted (nothing when it does not exist);
    - `sql(statement)`: one statement of the engine's own (cxdata.history's undo), run in
      the same transaction; the embedded lake only, and it needs the "manage" right;
    - `insert_select(name, query, rows)`: the rows of `query` — one SELECT of the engine's
      own (cxdata.voc.persist: results spread to the responses by a join) in which `{rows}`
      names the small Arrow table `rows` — added to the existing `name` by column name, in
      the same transaction; the embedded lake only, and it needs the "import" right.
    """

    kind: str
    name: str
    # replace / append: the rows (Chunks: in parts); delete: the values of `column`
    rows: Rows | Chunks | None = None
    column: str = ""
    source: str = ""
    key: str = ""
    statement: str = ""

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise ValueError(f"unknown write {self.kind!r}; allowed: {', '.join(OP_KINDS)}")
        if self.kind in ("replace", "append", "delete") and self.rows is None:
            raise ValueError(f"a {self.kind} needs rows")

    @classmethod
    def replace(cls, name: str, rows: Rows | Chunks) -> WriteOp:
        return cls("replace", name, rows)

    @classmethod
    def append(cls, name: str, rows: Rows | Chunks) -> WriteOp:
        return cls("append", name, rows)

    @classmethod
    def delete_ids(cls, name: str, ids: Iterable[str], key: str = "response_id") -> WriteOp:
        values = pa.array(sorted({str(i) for i in ids if i is not None}), pa.string())
        return cls("delete", name, pa.table({key: values}), column=key)

    @classmethod
    def delete_where(cls, name: str, column: str, value: str) -> WriteOp:
        return cls("delete", name, pa.table({column: pa.array([value], pa.string())}), column)

    @classmethod
    def fill_from(
        cls, name: str, column: str, source: str, key: str = "response_id"
    ) -> WriteOp:
        return cls("fill_from", name, column=column, source=source, key=key)

    @classmethod
    def drop(cls, name: str) -> WriteOp:
        return cls("drop", name)

    @classmethod
    def sql(cls, statement: str) -> WriteOp:
        return cls("sql", "sql", statement=statement)

    @classmethod
    def insert_select(cls, name: str, query: str, rows: pa.Table) -> WriteOp:
        return cls("insert_select", name, rows, statement=query)


def _action(ops: Sequence[WriteOp]) -> str:
    """The action (cxdata.roles) a set of writes needs: "manage" to replace or delete rows of
    a customer dataset or to drop any dataset, else "import" (appends, the theme model)."""
    for op in ops:
        if op.kind in ("drop", "sql") or (
            op.kind in ("replace", "delete") and op.name in CUSTOMER_DATASETS
        ):
            return "manage"
    return "import"


class Store:
    """Access to the datasets through one Ibis connection, optionally row-restricted.

    `restrict` maps dimension → allowed values; it is applied to every table that has the
    dimension, so no query through this Store can see rows outside it.

    `role` (cxdata.roles) is what the user behind this Store may do; every writer in the
    engine checks it (Store.require_write). None is the local process itself (CLI,
    scripts), which may do anything; a web session's Store always carries its user's role.
    """

    def __init__(
        self,
        backend: ibis.BaseBackend,
        *,
        raw: duckdb.DuckDBPyConnection | None = None,
        location: str = "",
        restrict: Mapping[str, tuple[str, ...]] | None = None,
        role: str | None = None,
        author: str = "",
    ) -> None:
        self.backend = backend
        self.raw = raw
        self.location = location
        self.restrict: dict[str, tuple[str, ...]] = dict(restrict or {})
        self.role = role
        self.author = author or _process_user()
        self._catalog_key: tuple[int, int] = (-1, -1)
        self._snapshot = -1
        self._tables: dict[str, ir.Table] = {}

    @property
    def is_embedded(self) -> bool:
        """Whether this is the embedded DuckDB file (with its data directory beside it),
        not a warehouse behind a URL."""
        return self.raw is not None

    @property
    def restriction_key(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The row restriction as a sorted, hashable value: the part of every cache key
        that keeps one reader's results from another's."""
        return tuple(sorted((k, tuple(v)) for k, v in self.restrict.items()))

    def restricted(self, restrict: Mapping[str, tuple[str, ...]]) -> Store:
        """A Store on the same connection that sees only rows inside `restrict`. A key
        "<dataset>:<dimension>" is that dataset's own restriction; the responses and the
        tables computed from their comments take none (CxError): those are restricted
        together, through the responses, by the plain keys."""
        from cxdata.voc.tables import ALL as THEME_TABLES

        for key in restrict:
            dataset = key.rpartition(":")[0]
            if dataset in (schema.RESPONSES, *THEME_TABLES):
                raise CxError(f"{dataset!r} cannot have a restriction of its own ({key!r}): "
                              "restrict the responses by their dimensions")
        merged = dict(self.restrict)
        for dim, values in restrict.items():
            prior = merged.get(dim)
            merged[dim] = tuple(v for v in values if prior is None or v in prior)
        return self._with(restrict=merged)

    def _with(self, **changes: object) -> Store:
        """A Store on the same connection with some of restrict, role, author changed."""
        kept: dict[str, object] = {
            "restrict": self.restrict, "role": self.role, "author": self.author
        }
        derived = Store(self.backend, raw=self.raw, location=self.location, **{**kept, **changes})  # type: ignore[arg-type]
        # the same connection sees the same catalog: keep what this Store has read of it
        # (_catalog replaces the dict, never changes it, so sharing it is safe)
        derived._catalog_key, derived._snapshot = self._catalog_key, self._snapshot
        derived._tables = self._tables
        return derived

    def by(self, author: str) -> Store:
        """A Store on the same connection whose writes are recorded as made by `author`
        (a signed-in user's e-mail; default: the operating-system user)."""
        return self._with(author=author)

    def acting_as(self, role: str) -> Store:
        """A Store on the same connection and restriction whose writes need `role`'s rights
        (a Store never gains rights: acting_as on a Store with a role keeps the lesser)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        if self.role is not None and ROLES.index(self.role) < ROLES.index(role):
            role = self.role
        return self._with(role=role)

    def require_write(self, action: str, what: str = "write data") -> None:
        """Raise unless this Store may write: CxError when it is row-restricted (a write
        could carry rows outside the restriction), AccessDenied (cxdata.roles) when its
        role may not do `action` ("import" or "manage"). Every engine writer calls this."""
        if self.restrict:
            raise CxError(f"a restricted view cannot {what}")
        require_role(self.role, action)

    def may_write(self, action: str) -> bool:
        """Whether require_write(action) would pass (for showing or hiding a control)."""
        try:
            self.require_write(action)
        except CxError:
            return False
        return True

    def write_action(self, writes: Sequence[tuple[str, object, bool]]) -> str:
        """The action a set of (name, rows, append?) writes needs: "manage" to replace a
        customer dataset, else "import" (the rule Store.apply checks)."""
        return _action([WriteOp("append" if a else "replace", n, r) for n, r, a in writes])

    def all_rows(self, name: str) -> ir.Table:
        """Every row of the dataset `name`, without the row restriction: for the import and
        theme machinery only (duplicate checks and stored types before an import, themes
        computed over the whole store), which runs on an unrestricted Store. A restricted
        Store raises CxError (fail closed): what answers a user reads `table`."""
        if self.restrict:
            raise CxError(f"a restricted view cannot read every row of {name}")
        return self._stored(name)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the embedded lake (close it after use); it ends this Store's
        `reading` first, as it may write. Raises CxError on a warehouse."""
        if self.raw is None:
            raise CxError("a warehouse has no embedded cursor")
        if self.restrict:  # raw SQL would see every row: fail closed
            raise CxError("a restricted view cannot read the store directly")
        self._end_reading()  # what the cursor writes, the reads after it must see
        return lake.cursor(self.raw)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Inside the block this Store's reads (and those of the Stores derived from it, on
        the same cursor) are one engine transaction: they all see the lake snapshot that
        was current at entry, whatever other sessions or processes commit meanwhile, and
        the lake's catalog (snapshot, file list, statistics) is read once instead of per
        query (on the 300k demo about a fifth of an Overview run's CPU; bench/results.md).
        A dashboard run is one such block, so its cache keys (Store.refresh, read_scope)
        and its numbers come from the same snapshot. Opening a raw cursor (`cursor`,
        which writes use) ends it first, so reads after a write see it. Nested blocks
        are one; a warehouse reads as before. Maintenance never runs under the transaction:
        entry waits for a running maintenance (lake.hold_snapshot; StoreBusy after
        $CX_WRITE_TIMEOUT), and maintenance waits for the block. An engine error inside
        the block aborts the transaction: the exit rolls it back."""
        con = self.backend.con if self.raw is not None else None
        hold = None
        if con is not None and id(con) not in _READING:
            hold = lake.hold_snapshot(Path(self.location))
        if con is None or hold is None:
            yield
            return
        try:
            con.execute("BEGIN TRANSACTION")
        except BaseException:
            lake.release_snapshot(hold)
            raise
        _READING[id(con)] = hold
        try:
            yield
        except BaseException:
            # after an engine error the commit below is a rollback, which drops the
            # in-memory tables Ibis registered in the block: let it register them again
            with suppress(AttributeError):
                self.backend._memtables.clear()  # type: ignore[attr-defined]
            raise
        finally:
            self._end_reading()

    def _end_reading(self) -> None:
        """End the read transaction `reading` opened on this Store's cursor, if any."""
        con = self.backend.con if self.raw is not None else None
        hold = _READING.pop(id(con), None) if con is not None else None
        if con is None or hold is None:
            return
        try:
            # reads only: a commit keeps what Ibis registered (an aborted one rolls back)
            con.execute("COMMIT")
        except duckdb.Error:  # the connection is gone
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
        finally:
            lake.release_snapshot(hold)

    def refresh(self) -> int:
        """The id of the lake snapshot this Store reads (one catalog read): the newest, or
        inside `reading` the one of the block's start. Remembered so the cached catalog is
        re-read when another process has committed since; -1 on a warehouse."""
        if self.raw is None:
            return -1
        self._snapshot = lake.current_snapshot(self.backend.con)
        return self._snapshot

    def _catalog(self) -> dict[str, ir.Table]:
        """Unrestricted tables by name, re-read only after a write in this process or a
        newer snapshot seen by refresh()."""
        if self._catalog_key != (_generation, self._snapshot):
            self._catalog_key = (_generation, self._snapshot)
            self._tables = {
                name: self.backend.table(name)
                for name in self.backend.list_tables()
                if not _NOT_A_DATASET.search(name)
            }
        return self._tables

    def has(self, name: str) -> bool:
        """Whether the dataset exists."""
        return name in self._catalog()

    def _stored(self, name: str) -> ir.Table:
        if not self.has(name):
            raise NoData(
                f"no {name} data yet in {self.location}: run `python -m cxdata demo` "
                "or import a file"
            )
        return self._catalog()[name]

    def table(self, name: str) -> ir.Table:
        """The dataset `name`, with the row restriction applied."""
        table = self._stored(name)
        if not self.restrict:
            return table
        # Fail closed (DESIGN §10): every restriction reaches every table, or the table is
        # hidden. A key "<dataset>:<dimension>" is that dataset's own restriction from the
        # access file (cxdata.access), standing in for the dimensions the dataset lacks.
        from cxdata.annotations import ANNOTATIONS
        from cxdata.voc.tables import (  # the theme tables
            BITS,
            COMMENTS,
            MASKS,
            RUNS,
            THEMES,
            TOPIC_TERMS,
            TOPICS,
        )

        if name == RUNS:  # the log of theme runs: when, which kind and taxonomy; never its
            return table.select(  # counts, which span all rows
                *(c for c in ("run_at", "kind", "taxonomy") if c in table.columns)
            )
        own = any(k.rpartition(":")[0] == name for k in self.restrict)
        # a comment's analysed language is not its response's `language`: the rows of a
        # comment are visible with their response, whatever their own columns are called,
        # and the theme model (labels, term weights, bit numbers) holds no customer rows
        of_a_response = name in (COMMENTS, THEMES, MASKS)
        theme_model = name in (TOPICS, TOPIC_TERMS, BITS)
        preds: list[ir.BooleanValue] = []
        via_responses = hidden = False
        for key, values in self.restrict.items():
            dataset, _, dim = key.rpartition(":")
            if dataset and dataset != name:
                continue  # another dataset's own restriction
            if theme_model and not dataset:
                continue
            if dim in table.columns and not (of_a_response and not dataset):
                preds.append(in_list(table[dim], values))
            elif dataset:
                hidden = True  # its own restriction names a column it does not have
            elif name == schema.RESPONSES:
                raise CxError(
                    f"the access restriction on {dim!r} cannot be applied: the responses "
                    "have no such column, so no data is shown; ask an administrator to "
                    "fix the access file"
                )
            elif name == ANNOTATIONS:  # events, no customer rows (cxdata.annotations):
                # those scoped to a value of `dim` outside the restriction are hidden
                preds.append(table.scope_dim.isnull() | (table.scope_dim != dim)
                             | in_list(table.scope_value, values))
            elif "response_id" in table.columns and self.has(schema.RESPONSES):
                via_responses = True  # rows of a response: visible with their response only
            elif own:
                continue  # the dataset's own restriction stands in for this dimension
            else:
                hidden = True  # nothing to restrict it by: hidden, never shown whole
        if hidden:
            return table.filter(ibis.literal(False))
        if via_responses:
            preds.append(table.response_id.isin(self.responses().response_id))
        return table.filter(preds) if preds else table

    def read_scope(self) -> tuple[object, ...] | None:
        """What this Store reads now, as the part of a process-wide cache key that keeps a
        result apart from another lake's, restriction's or snapshot's: the lake's real
        path, the restriction, this process's connection generation and the snapshot this
        Store reads at this call (one catalog read; inside `reading`, the block's). None on
        a warehouse (nothing is cached)."""
        if self.raw is None:
            return None
        snapshot = lake.current_snapshot(self.backend.con)
        return (os.path.realpath(self.location), self.restriction_key, _generation, snapshot)

    def small_table(self, name: str) -> pd.DataFrame:
        """Dataset `name` read whole, as table(name) gives it (restriction applied), for the
        small tables a page reads on every run (the theme numbering and labels). Read once
        per lake snapshot and shared by the Stores of the same lake and restriction; each
        call returns a copy. The snapshot is the one this Store reads at this call (one
        catalog read), not the one of its last refresh: the theme numbering must be as new
        as the masks read right after it, which outside `reading` another process may
        have rewritten since the run began. A warehouse reads it every call. Raises
        NoData when the dataset does not exist."""
        scope = self.read_scope()
        if scope is None:
            return self.table(name).to_pandas()
        key = (*scope, name)
        frame = _SMALL_TABLES.get(key)
        if frame is None:
            frame = self.table(name).to_pandas()
            if len(_SMALL_TABLES) >= _SMALL_TABLES_KEPT:
                _SMALL_TABLES.clear()
            _SMALL_TABLES[key] = frame
        return frame.copy()

    def responses(self) -> ir.Table:
        """The survey responses (restricted)."""
        return self.table(schema.RESPONSES)

    def dimensions(self, name: str = schema.RESPONSES) -> list[str]:
        """Categorical columns of a dataset that can be filtered and grouped on."""
        if not self.has(name):
            return []
        tbl_schema = self._catalog()[name].schema()
        return [
            col
            for col, dtype in tbl_schema.items()
            if dtype.is_string()
            and col not in schema.NON_DIMENSION_COLUMNS
            and not col.startswith(schema.EXTRA_TEXT_PREFIX)
            and col not in ("metric", "unit")
        ]

    def row_count(self, name: str) -> int:
        """Rows visible in a dataset (0 when it does not exist)."""
        return int(self.table(name).count().execute()) if self.has(name) else 0

    def replace_table(self, name: str, frame: Rows) -> None:
        """Replace a dataset atomically: the new rows are written first, then swapped in."""
        self.apply([WriteOp.replace(name, frame)])

    def append_rows(self, name: str, frame: Rows) -> None:
        """Append rows atomically (all or nothing); new columns are added as needed."""
        self.apply([WriteOp.append(name, frame)])

    def drop_table(self, name: str) -> None:
        """Delete a dataset."""
        self.drop_tables([name])

    def drop_tables(self, names: Sequence[str]) -> None:
        """Delete several datasets as one (a dataset and the ones that point into it)."""
        self.apply([WriteOp.drop(name) for name in names], Commit("delete"))

    def write_tables(
        self, writes: Sequence[tuple[str, Rows, bool]], commit: Commit | None = None
    ) -> None:
        """Write several datasets as one: (name, rows, append?) each (see apply: an import
        writes responses and their touchpoint ratings together), recorded as `commit`."""
        self.apply(
            [WriteOp("append" if append else "replace", n, r) for n, r, append in writes], commit
        )

    def apply(self, ops: Sequence[WriteOp], commit: Commit | None = None) -> None:
        """Make the changes `ops`, in order, as one write: the one path every write takes.

        On the lake the write is one snapshot, recorded with `commit` (kind and details;
        default: kind "write" and the rows per dataset) and this Store's author, made under
        the data directory's write lock (waits up to CX_WRITE_TIMEOUT s, then StoreBusy).

        The role and restriction are checked first (require_write, with the action the ops
        need: "manage" to replace or delete rows of a customer dataset or to drop any
        dataset, else "import"). Rows get the contract's types (`conformed`) and new
        responses their derived columns (schema.DERIVED, embedded store). On the embedded
        DuckDB store it is one transaction, so every table changes or none does; other
        backends apply op by op, each one atomic on its own."""
        for op in ops:
            _check_ident(op.name)
            for ident in (op.column, op.source, op.key):
                if ident:
                    _check_ident(ident)
        self.require_write(
            _action(ops),
            "delete data" if any(op.kind == "drop" for op in ops) else "write data",
        )
        ready = [
            dataclasses.replace(op, rows=_prepared(op.name, op.rows))  # type: ignore[arg-type]
            if op.kind in ("replace", "append") and op.rows is not None
            else op
            for op in ops
        ]
        try:
            if self.is_embedded:
                self._apply_embedded(ready, _recorded(commit or Commit(), ready, self.author))
            else:
                self._apply_generic(ready)
        except Exception as exc:
            # A part that failed to come (Chunks): its own exception, not DuckDB's words.
            failed = next((op.rows.error for op in ready if isinstance(op.rows, _Stream)
                           and op.rows.error is not None), None)
            if failed is None or failed is exc:
                raise
            raise failed from exc
        finally:
            _bump_generation()  # Stores cache their catalog until the generation moves

    def _apply_embedded(self, ops: Sequence[WriteOp], commit: Commit) -> None:
        require_writable(self)  # before the lock file, which a read-only directory refuses
        with lake.write_lock(Path(self.location)):
            cur = self.cursor()
            try:
                self._snapshot = lake.current_snapshot(cur)  # see other processes' tables
                _run_in_transaction(cur, [commit.sql(), *self._statements(cur, ops)])
            finally:
                cur.close()

    def _statements(self, cur: duckdb.DuckDBPyConnection, ops: Sequence[WriteOp]) -> list[str]:
        """The SQL of `ops` on the embedded store; their rows are registered on `cur`."""
        shape: dict[str, list[str] | None] = {}  # columns as the ops leave them; None: absent

        def columns(name: str) -> list[str] | None:
            if name not in shape:
                shape[name] = _columns(cur, name) if self.has(name) else None
            return shape[name]

        out: list[str] = []
        for i, op in enumerate(ops):
            view = f"cx_incoming_{i}"
            data = op.rows
            if isinstance(data, _Stream):
                cur.register(view, data.reader)  # read once, by the statement below
            elif isinstance(data, pa.Table):
                cur.register(view, data)
            stored = columns(op.name)
            if op.kind in ("replace", "append") and isinstance(data, pa.Table | _Stream):
                sql, shape[op.name] = _row_statements(
                    op, view, data.schema, stored, ordered=isinstance(data, pa.Table)
                )
                out += sql
            elif op.kind == "delete" and stored is not None:
                out.append(
                    f'DELETE FROM "{op.name}" WHERE "{op.column}" IN '
                    f'(SELECT "{op.column}" FROM "{view}")'
                )
            elif op.kind == "fill_from" and stored is not None and columns(op.source) is not None:
                if op.column not in stored:
                    out.append(f'ALTER TABLE "{op.name}" ADD COLUMN "{op.column}" VARCHAR')
                    shape[op.name] = [*stored, op.column]
                col, key = f'"{op.column}"', f'"{op.key}"'
                out.append(
                    f'UPDATE "{op.name}" AS r SET {col} = v.{col} FROM "{op.source}" AS v '
                    f"WHERE r.{key} = v.{key} AND (r.{col} IS NULL OR trim(r.{col}) = '') "
                    f"AND v.{col} IS NOT NULL"
                )
            elif op.kind == "drop":
                out.append(f'DROP TABLE IF EXISTS "{op.name}"')
                shape[op.name] = None
            elif op.kind == "sql":
                out.append(op.statement)
            elif op.kind == "insert_select":
                query = op.statement.replace("{rows}", f'"{view}"')
                out.append(f'INSERT INTO "{op.name}" BY NAME {query}')
        return out

    def _apply_generic(self, ops: Sequence[WriteOp]) -> None:
        """Op by op through Ibis (no transaction across tables); fill_from is skipped."""
        if any(op.kind in ("sql", "insert_select") for op in ops):
            raise CxError("this change needs the embedded store (a lake)")
        exists = set(self._catalog())
        for op in ops:
            data = op.rows.reader.read_all() if isinstance(op.rows, _Stream) else op.rows
            if op.kind == "replace" or (op.kind == "append" and op.name not in exists):
                self.backend.create_table(op.name, data, overwrite=True)
                exists.add(op.name)
            elif op.kind == "append":
                self.backend.insert(op.name, data)
            elif op.kind == "delete" and op.name in exists and isinstance(data, pa.Table):
                rows = self.backend.table(op.name).to_pyarrow()
                column = rows.column(op.column)
                hit = pc.is_in(column, value_set=data.column(op.column).cast(column.type))
                self.backend.create_table(op.name, rows.filter(pc.invert(hit)), overwrite=True)
            elif op.kind == "drop":
                self.backend.drop_table(op.name, force=True)
                exists.discard(op.name)


_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "int8": pa.int8(),
    "float64": pa.float64(),
}
_CORE_TYPES: dict[str, dict[str, str]] = {
    schema.RESPONSES: schema.RESPONSE_CORE,
    schema.TOUCHPOINT_RATINGS: schema.TOUCHPOINT_RATING_COLUMNS,
    schema.METRICS: schema.METRIC_CORE,
}


def _process_user() -> str:
    """Who runs this process (the author of the CLI's writes)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def _recorded(commit: Commit, ops: Sequence[WriteOp], author: str) -> Commit:
    """`commit` with its author and, unless given, the rows each op wrote per dataset."""
    details = dict(commit.details or {})
    if "rows" not in details:
        rows: dict[str, int] = {}
        for op in ops:
            if op.kind in ("replace", "append") and isinstance(op.rows, pa.Table):
                rows[op.name] = rows.get(op.name, 0) + op.rows.num_rows
            elif isinstance(op.rows, _Stream) and op.rows.rows is not None:
                rows[op.name] = rows.get(op.name, 0) + op.rows.rows
        details["rows"] = rows
    details.setdefault("ops", sorted({f"{op.kind} {op.name}" for op in ops}))
    return dataclasses.replace(commit, author=commit.author or author, details=details)


def _prepared(name: str, rows: Rows | Chunks) -> pa.Table | _Stream:
    """The rows of a replace or append ready to write: conformed, or streamed (Chunks)."""
    return _Stream(name, rows) if isinstance(rows, Chunks) else conformed(name, rows)


def conformed(name: str, frame: pd.DataFrame | pa.Table) -> pa.Table:
    """`frame` as Arrow with the contract's types for known columns; columns that are all
    missing become strings (every backend can store those)."""
    data = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    core = _CORE_TYPES.get(name, {})
    fields = []
    for field in data.schema:
        if field.name in core:
            fields.append(pa.field(field.name, _ARROW_TYPES[core[field.name]]))
        elif pa.types.is_null(field.type) or pa.types.is_large_string(field.type):
            fields.append(pa.field(field.name, pa.string()))
        else:
            fields.append(pa.field(field.name, field.type))
    return data.cast(pa.schema(fields))


def connect(
    data_dir: str | Path | None = None,
    url: str | None = None,
    *,
    read_only: bool = False,
    create: bool = True,
) -> Store:
    """A new Store for this thread: the warehouse at `url` / $CX_DATABASE_URL if given,
    else the lake in `data_dir` / $CX_DATA_DIR (cxdata.lake).

    The directory and its lake are created on first use only when `create` (commands that
    write); otherwise a missing one is a NoData error and nothing is created. A store of the
    earlier single-file format (cx.duckdb) is converted once, its file kept as a backup. A
    store this process may not write (a read-only directory or catalog) is opened read-only:
    it can be read, and writes say the directory is read-only. Raises CxError in one line
    for a damaged catalog or old file, an old file another process holds, or a warehouse
    that does not answer within $CX_CONNECT_TIMEOUT seconds."""
    url = url or config.database_url()
    if url:
        try:
            backend = ibis.connect(url, **faults.url_options(url))
            return Store(_engine_ready(backend), location=_redacted(url))
        except Exception as exc:  # the driver's own message says what is wrong
            raise faults.connect_error(exc, _redacted(url)) from exc
    path = Path(data_dir) if data_dir is not None else config.data_dir()
    raw = _process_connection(path, read_only=read_only, create=create)
    return Store(ibis.duckdb.from_connection(lake.cursor(raw)), raw=raw, location=str(path))


def from_backend(backend: ibis.BaseBackend, location: str = "") -> Store:
    """A Store on an Ibis backend the caller already holds, prepared as connect() prepares
    a URL's: e.g. `from_backend(ibis.pyspark.connect(spark))` on a running SparkSession
    (which is how Spark is usually reached; `pyspark://` URLs work through connect() too).
    `location` names it in messages (default: the backend's name). Like a URL's, it has no
    lake: writes go op by op through Ibis."""
    return Store(_engine_ready(backend), location=location or backend.name)


def _engine_ready(backend: ibis.BaseBackend) -> ibis.BaseBackend:
    """`backend`, with the session settings the store needs on its engine.

    Spark: rows written through Ibis must reach Spark as Arrow. Ibis 12 hands them over as
    pandas otherwise, and Spark then stores missing strings as the text 'NaN' and nullable
    integer columns as all NULL; with the fallback off a failed Arrow transfer raises
    instead of doing that silently. (Ibis itself sets the session time zone to UTC.)"""
    if backend.name == "pyspark":
        backend.raw_sql("SET spark.sql.execution.arrow.pyspark.enabled=true")
        backend.raw_sql("SET spark.sql.execution.arrow.pyspark.fallback.enabled=false")
    return backend


def _process_connection(
    data_dir: Path, *, read_only: bool, create: bool = True
) -> duckdb.DuckDBPyConnection:
    key = data_dir.resolve()
    file = key / DB_FILE
    stored = lake.exists(key) or (key / lake.NATIVE_FILE).exists()
    with _lock:
        if key in _raw:
            if _answers(_raw[key]):
                return _raw[key]
            stale = _raw.pop(key)  # invalidated by a fatal error: reopen the file
            with suppress(duckdb.Error):
                stale.close()
        if (read_only or not create) and not key.is_dir():
            raise NoData(
                f"no data directory at {data_dir}: run `python -m cxdata demo` or import a file"
            )
        if (read_only or not create) and not stored:
            raise NoData(
                f"no responses data yet in {data_dir}: run `python -m cxdata demo` or import "
                "a file"
            )
        if not read_only:
            try:
                key.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CxError(
                    f"cannot create the data directory {key}: {exc.strerror}",
                    web=f"cannot create the data directory: {exc.strerror}",
                ) from exc
            if not faults.writable(file):
                if not stored:
                    raise faults.read_only(key)
                read_only = True  # readable, never written: reads work, writes say why
        if lake.needs_conversion(key):
            native = key / lake.NATIVE_FILE
            if read_only:
                raise CxError(
                    f"{native} is a store of the earlier single-file format: open it once "
                    "with write access to convert it",
                    web="the data directory holds a store of the earlier format: an "
                    "administrator must open it once with write access to convert it",
                )
            try:
                lake.convert_native(key)
            except duckdb.Error as exc:
                raise (faults.store_error(exc, native) or exc) from exc
        try:
            if read_only or lake.exists(key):
                _raw[key] = lake.open_lake(key, read_only=read_only)
            else:  # a new lake: its catalog is created once, not by two processes at once
                with lake.write_lock(key):
                    _raw[key] = lake.open_lake(key, read_only=read_only)
        except duckdb.Error as exc:
            raise (faults.store_error(exc, file) or exc) from exc
        # a reopened lake may be another one at the same path (restored, re-made) whose
        # snapshot ids repeat: every cache keyed on read_scope must miss
        _advance_generation()
        return _raw[key]


def close(data_dir: str | Path) -> None:
    """Close the process-wide DuckDB connection of one data directory, if open (tests that
    make many small stores; other stores stay open)."""
    with _lock:
        raw = _raw.pop(Path(data_dir).resolve(), None)
    if raw is not None:
        raw.close()


def _drop(key: Path, raw: duckdb.DuckDBPyConnection) -> None:
    """Close the process-wide connection `raw` of the file at `key` and forget it, so the
    next connect() opens the file afresh. Closing it closes every cursor on it: Stores that
    still hold one see it in is_open() and reconnect (pages/_shared/session.py)."""
    with _lock:
        if _raw.get(key) is raw:
            del _raw[key]
    with suppress(duckdb.Error):  # an invalidated database may refuse even this
        raw.close()


def _answers(raw: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's database still answers (not closed, not invalidated by a
    fatal error)."""
    try:
        cur = raw.cursor()
        try:
            cur.execute("SELECT 1").fetchall()
        finally:
            cur.close()
    except duckdb.Error:
        return False
    return True


def _invalidated() -> list[tuple[Path, duckdb.DuckDBPyConnection]]:
    """The open connections whose database no longer answers (after a fatal error)."""
    with _lock:
        open_now = list(_raw.items())
    return [(key, raw) for key, raw in open_now if not _answers(raw)]


def is_open(store: Store) -> bool:
    """Whether the Store's process-wide connection is still the one in use (False after
    an engine failure dropped it: make a new Store with connect())."""
    if store.raw is None:
        return True
    return _raw.get(Path(store.location).resolve()) is store.raw


def is_read_only(store: Store) -> bool:
    """Whether the embedded store was opened read-only (its directory or file may not be
    written by this process); False for a warehouse."""
    if store.raw is None:
        return False
    cur = lake.cursor(store.raw)
    try:
        row = cur.execute(
            "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()
    finally:
        cur.close()
    return bool(row and row[0])


def require_writable(store: Store) -> None:
    """Raise CxError when the embedded store was opened read-only (before anything of a
    write, such as an import's kept original, is written)."""
    if is_read_only(store):
        raise faults.read_only(Path(store.location).resolve())


@contextmanager
def engine_errors(store: Store | None = None) -> Iterator[None]:
    """Turn an engine failure inside the block into one CxError line (cxdata.faults).

    After a fatal or I/O error (or an internal one that says the database must be
    restarted) the process-wide connection is dropped, so the next connect() reopens the
    file instead of every new session failing until a restart: the connection of `store`,
    or, without one, every connection that no longer answers. Other exceptions pass."""
    try:
        yield
    except CxError:
        raise  # already one clear line
    except Exception as exc:
        embedded = store is not None and store.raw is not None
        folder = Path(store.location) if store is not None and embedded else config.data_dir()
        if faults.must_reopen(exc):
            if store is not None and store.raw is not None:
                _drop(folder.resolve(), store.raw)
            else:
                for key, raw in _invalidated():
                    _drop(key, raw)
        failure = faults.store_error(exc, folder.resolve() / DB_FILE)
        if failure is None:
            raise
        raise failure from exc


def close_all() -> None:
    """Close every process-wide DuckDB connection (tests, CLI exit)."""
    with _lock:
        for raw in _raw.values():
            raw.close()
        _raw.clear()


def _select_with_derived(view: str, incoming: pa.Schema, derived: Sequence[str]) -> str:
    """A subquery over the registered `view` that adds the `derived` columns of
    schema.DERIVED (compiled by Ibis from the same expressions the queries use)."""
    unbound = ibis.table(ibis.Schema.from_pyarrow(incoming), name=view)
    return f"({ibis.to_sql(schema.with_derived(unbound, derived), dialect='duckdb')})"


def _derived_columns(op: WriteOp, stored: list[str] | None) -> list[str]:
    """The derived columns new rows of `op` get: none outside responses; every one for a
    new or replaced table; for an append, those the stored table has (a table written
    before a derived column existed lacks it, and its readers compute it instead)."""
    if op.name != schema.RESPONSES:
        return []
    if op.kind == "replace" or stored is None:
        return list(schema.DERIVED)
    return [c for c in schema.DERIVED if c in stored]


def _run_in_transaction(cur: duckdb.DuckDBPyConnection, statements: Sequence[str]) -> None:
    """All statements or none (DuckDB rolls back the whole transaction on any error)."""
    cur.execute("BEGIN TRANSACTION")
    try:
        for sql in statements:
            cur.execute(sql)
        cur.execute("COMMIT")
    except BaseException:
        # A failed COMMIT has already ended the transaction: its ROLLBACK error must not
        # hide the real cause (a full disk, say).
        with suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        raise


def _row_statements(
    op: WriteOp, view: str, incoming: pa.Schema, stored: list[str] | None, *, ordered: bool = True
) -> tuple[list[str], list[str]]:
    """The SQL of a replace or append of the rows registered as `view` (with the derived
    columns of new responses), and the table's columns after it. An append to a stored table
    adds the columns it lacks (as VARCHAR) and inserts by name; anything else builds the new
    table beside the old one and swaps it in, sorted by submitted_at when `ordered` (else in
    the order the rows come: a stream is read once and never held whole)."""
    name = op.name
    derived = _derived_columns(op, stored)
    source = _select_with_derived(view, incoming, derived) if derived else f'"{view}"'
    names = list(dict.fromkeys([*incoming.names, *derived]))
    if op.kind == "append" and stored is not None:
        added = [c for c in incoming.names if c not in stored]
        for column in added:
            _check_ident(column)
        cols = ", ".join(f'"{c}"' for c in names)
        return [
            *(f'ALTER TABLE "{name}" ADD COLUMN "{c}" VARCHAR' for c in added),
            f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM {source}',
        ], [*stored, *added]
    order = ' ORDER BY "submitted_at"' if ordered and "submitted_at" in incoming.names else ""
    return [
        f'CREATE OR REPLACE TABLE "{name}__new" AS SELECT * FROM {source}{order}',
        f'DROP TABLE IF EXISTS "{name}"',
        f'ALTER TABLE "{name}__new" RENAME TO "{name}"',
    ], names


def _columns(cur: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The columns of the stored table `name`."""
    return [row[0] for row in cur.execute(f'DESCRIBE "{name}"').fetchall()]


def _check_ident(name: str) -> None:
    if not _IDENT.match(name):
        raise CxError(f"invalid dataset or column name {name!r} (use a-z, 0-9 and _)")


_SECRET_PARAMS = re.compile(
    r"([?&;](?:password|passwd|pwd|secret|token|access_token|api_key|apikey|key)=)[^&;#]*",
    re.IGNORECASE,
)


def _redacted(url: str) -> str:
    """The URL without its password (in the user part or a query parameter such as
    `?password=`, `&token=`), safe to show."""
    return _SECRET_PARAMS.sub(r"\1***", re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url))
