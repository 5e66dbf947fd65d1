"""A resident copy of the survey responses in memory, per lake snapshot, for aggregates.

On the embedded store every aggregate reads the responses' Parquet files: at 10M answers
most of a dashboard query's time goes to decoding them and to hashing the grouped strings
(bench/results.md). A DuckDB table in memory with each low-cardinality text column held
as an ENUM (its codes are small integers: grouping and filtering on them is far cheaper
than on strings) answers the same SQL in a fraction of the time, as Polars does from a
frame in memory. So each server process (one that called `enable`: the dashboard's, not a
one-shot command's) keeps one such copy of the responses of the lake snapshot it last
read, built in a background thread the first time a query asks for a snapshot no copy
holds; until it is ready, and for any query it cannot answer, the query reads the lake as
before. At exit a running build is interrupted and waited for (the engine aborted a
process that exited under one).

Why the numbers cannot differ: a copy is of one snapshot, read inside one transaction at
that snapshot, and is only used by a query that reads that same snapshot (the key is the
lake's real path, the store's connection (which holds the copy), the caller's session
time zone (in which the copy is made and read) and the snapshot id). A copy is kept for
a newer snapshot only when the lake's log says no snapshot since touched the responses.
The SQL is the same text with the same parameters; it reads no other table and names the
responses unqualified (checked on the compiled tree) and no column the copy lacks (the
engine refuses it; the query then reads the lake). Its row count is checked against the lake's.
ENUM values are stored in sorted order, so ordering and comparisons with text are those
of the text; NULL stays NULL. Result columns come back as the text they hold (the caller
casts to the Ibis schema).

Bounds: only stores of `$CX_RESIDENT_MIN_ROWS` (default 500,000) to `$CX_RESIDENT_ROWS`
(default 20,000,000) answers get a copy (below, the lake is fast enough; above, memory
would grow with the store: ~12 bytes an answer once compressed, ~95 while it is built).
`CX_RESIDENT_ROWS=0` turns it off. The comment text and any text column with more than
65,535 distinct values are left out.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot.expressions as sge

from cxdata import lake, schema
from cxdata.errors import CxError

MAX_ROWS_ENV = "CX_RESIDENT_ROWS"
MIN_ROWS_ENV = "CX_RESIDENT_MIN_ROWS"
DEFAULT_MAX_ROWS = 20_000_000
DEFAULT_MIN_ROWS = 500_000
MAX_ENUM_VALUES = 65_535  # a two-byte code; more distinct values stay out of the copy
LEFT_OUT = frozenset({"comment"})  # free text: never grouped on, and the bulk of the bytes
RETRY_AFTER = 60.0  # seconds before a failed build of the same snapshot is tried again
_DATABASE = "resident"  # the in-memory database attached to the store's connection
_SERIAL = itertools.count()  # (a schema name per build: a failed one never clashes)


@dataclass
class _Copy:
    """One snapshot's copy: the schema `place` of the in-memory database attached to the
    store's connection `con`; `con` is None while it is being built and when it was not
    made (`why` says why: too few or too many answers, the build failed)."""

    key: tuple[object, ...]
    place: str = ""
    con: duckdb.DuckDBPyConnection | None = None
    why: str = "building"
    rows: int = 0
    seconds: float = 0.0
    columns: tuple[str, ...] = ()
    ready: threading.Event = field(default_factory=threading.Event)
    builder: duckdb.DuckDBPyConnection | None = None  # the build's cursor, while it runs
    table_id: int = 0  # the lake's id of the responses table it copies
    failed_at: float = 0.0  # time.monotonic() of a failed build (retried after a while)


_COPIES: dict[str, _Copy] = {}  # by the lake's real path: the newest snapshot asked for
_LOCK = threading.Lock()
_OFF = threading.local()  # `off()`: this thread reads the lake (benchmarks compare both)
_ENABLED = False  # a long-running process (the dashboard's server) asks for copies
_AT_EXIT = False  # _stop_builds registered
_STOPPING = threading.Event()  # the process is exiting


def enable(on: bool = True) -> None:
    """Let this process keep resident copies (`on`), or not. Only long-running processes
    should (the dashboard's server; benchmarks): a one-shot command would pay for a copy it
    never uses. Checks the settings first: raises CxError for a value of
    $CX_RESIDENT_ROWS / $CX_RESIDENT_MIN_ROWS that is not a whole number."""
    global _ENABLED
    if on:
        max_rows(), min_rows()
        _stop_builds_at_exit()
    _ENABLED = on


def _bound(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise CxError(f"{name} must be a whole number of answers (0 or more), got {text!r}")
    return int(text)


def max_rows() -> int:
    """Largest store (answers) that gets a resident copy, from $CX_RESIDENT_ROWS (0: never).
    Raises CxError for a value that is not a whole number."""
    return _bound(MAX_ROWS_ENV, DEFAULT_MAX_ROWS)


def min_rows() -> int:
    """Smallest store (answers) that gets a resident copy, from $CX_RESIDENT_MIN_ROWS.
    Raises CxError for a value that is not a whole number."""
    return _bound(MIN_ROWS_ENV, DEFAULT_MIN_ROWS)


def reads_responses_only(tree: sge.Expr) -> bool:
    """Whether a compiled query reads no table but the responses (so a copy of them can
    answer it): every table it names is the responses, unqualified. (A qualified name
    would reach the lake itself from the copy's cursor, at its newest snapshot.)"""
    tables = list(tree.find_all(sge.Table))
    return bool(tables) and all(
        t.name == schema.RESPONSES and not t.catalog and not t.db for t in tables
    )


@contextmanager
def off() -> Iterator[None]:
    """Inside the block this thread's queries read the lake, never a copy (to measure
    both, or to check they agree)."""
    before = getattr(_OFF, "on", False)
    _OFF.on = True
    try:
        yield
    finally:
        _OFF.on = before


def execute(
    raw: duckdb.DuckDBPyConnection,
    lake_con: duckdb.DuckDBPyConnection,
    location: str,
    snapshot: int,
    sql: str,
    params: list[object],
) -> pa.Table | None:
    """`sql` (which reads only the responses) answered from the resident copy of the lake
    at `location` (whose connection is `raw`) at `snapshot`, the one the caller's cursor
    `lake_con` reads, as an Arrow table; None when there is no ready copy of that
    snapshot or the copy cannot answer it: the caller then runs it on the lake. The
    first call for a snapshot counts the answers on `lake_con` and, if the store's size
    qualifies, starts building the copy in the background."""
    if not enabled():
        return None
    place = os.path.realpath(location)
    with _LOCK:
        known = _COPIES.get(place)
    if known is not None and _settled_without_copy(known, id(raw), snapshot):
        return None  # (most runs on a small store end here, for two cheap lookups)
    # The caller's session time zone is part of what it reads (Ibis sets UTC on its
    # cursor; a new cursor has the system's): a TIMESTAMPTZ is cut into days by it, and
    # the lake converts a column stored as TIMESTAMP but now declared TIMESTAMPTZ by it.
    # So a copy is made, and read, in the zone of the caller it answers.
    row = lake_con.execute("SELECT current_setting('TimeZone')").fetchone()
    zone = str(row[0]) if row else "UTC"
    # the copy lives in `raw`, which it keeps alive: its id is that connection's
    key = (place, id(raw), zone, snapshot)
    copy = _copy_for(raw, lake_con, key)
    if copy is None or copy.con is None:
        return None
    cur = copy.con.cursor()  # its own transaction: a run's began before the copy existed
    try:
        cur.execute(f"USE {copy.place}")  # (a cursor starts in the default database)
        cur.execute("SET TimeZone = " + _text(zone))
        return cur.execute(sql, params).to_arrow_table()
    except duckdb.Error:
        return None  # a column the copy left out, or a function ENUMs do not take
    finally:
        cur.close()


def enabled() -> bool:
    """Whether this thread's queries may be answered by a copy (`enable` was called, not
    inside `off`, $CX_RESIDENT_ROWS is not 0). Raises CxError for a mistyped bound."""
    return _ENABLED and not getattr(_OFF, "on", False) and max_rows() != 0


def _settled_without_copy(known: _Copy, connection: int, snapshot: int) -> bool:
    """Whether `known` says there is no copy for this connection and snapshot, and none is
    coming (the store is outside the bounds, or its build failed and is not due again)."""
    return (
        known.ready.is_set() and known.con is None and not _due_again(known)
        and known.key[1] == connection and known.key[-1] == snapshot
    )  # fmt: skip


def _due_again(copy: _Copy) -> bool:
    """Whether `copy` is a failed build whose snapshot may be tried again by now."""
    return bool(copy.failed_at) and time.monotonic() - copy.failed_at > RETRY_AFTER


def _copy_for(
    raw: duckdb.DuckDBPyConnection, lake_con: duckdb.DuckDBPyConnection, key: tuple[object, ...]
) -> _Copy | None:
    """The ready copy for `key`, or None (after starting its build when it is the newest
    snapshot asked for, no build is running and the store's size qualifies)."""
    path = str(key[0])
    with _LOCK:
        known = _COPIES.get(path)
    if known is not None:
        if known.key == key and not _due_again(known):
            return known if known.ready.is_set() else None
        if not known.ready.is_set() or _older(key, known.key):
            return None  # one build at a time; a run on an older snapshot reads the lake
        kept = _still_current(lake_con, known, key)
        if kept is not None:
            return kept
    try:
        rows = int(lake_con.execute(f"SELECT count(*) FROM {schema.RESPONSES}").fetchone()[0])
    except duckdb.Error:
        return None  # no responses yet
    fresh = _Copy(key, rows=rows)
    wanted = min_rows() <= rows <= max_rows()  # (raises before anything is registered)
    if not wanted:
        fresh.why = f"{rows:,} answers: outside the resident bounds"
        fresh.ready.set()
    with _LOCK:
        if _COPIES.get(path) is not known:
            return None  # another thread got here first
        _COPIES[path] = fresh  # the older copy goes once its readers are done with it
    if not wanted:
        _drop_others(raw)  # the older copy will not be used again
        return None
    try:
        threading.Thread(target=_build, args=(raw, fresh), name="cx-resident", daemon=True).start()
    except RuntimeError as exc:  # no thread to be had: no copy, and the next write tries
        fresh.why = f"build not started: {exc}"
        fresh.ready.set()
    return None


def _stop_builds_at_exit() -> None:
    """Once per process: at exit, interrupt the builds still running and wait for them (the
    engine aborted the process when it exited under a running build)."""
    global _AT_EXIT
    if not _AT_EXIT:
        atexit.register(_stop_builds)
        _AT_EXIT = True


def _stop_builds(timeout: float = 10.0) -> None:
    _STOPPING.set()  # no build starts another statement
    with _LOCK:
        running = [c for c in _COPIES.values() if not c.ready.is_set()]
    for copy in running:
        builder = copy.builder
        if builder is not None:
            with suppress(duckdb.Error):
                builder.interrupt()
    for copy in running:
        copy.ready.wait(timeout)


def _still_current(
    lake_con: duckdb.DuckDBPyConnection, known: _Copy, key: tuple[object, ...]
) -> _Copy | None:
    """`known` (a ready copy) as the copy of the newer snapshot in `key` too, registered,
    when no snapshot since its own touched the responses (a theme run, a note, another
    table's import); else None (a new copy is needed)."""
    if known.con is None or known.key[:-1] != key[:-1] or not known.table_id:
        return None
    since, until = int(known.key[-1]), int(key[-1])  # type: ignore[call-overload]
    try:
        # the log, and the name still resolving to the same table (a rename is logged
        # as the new name's creation only)
        if _responses_changed(lake_con, since, until, known.table_id) or (
            _table_id(lake_con, until) != known.table_id
        ):
            return None
    except duckdb.Error:
        return None
    moved = replace(known, key=key, ready=threading.Event())
    moved.ready.set()
    with _LOCK:
        if _COPIES.get(str(key[0])) is not known:
            return None
        _COPIES[str(key[0])] = moved
    return moved


# Kinds of change a lake snapshot records (ducklake_snapshots' `changes`) and what their
# items are. A kind not listed here counts as a change to the responses.
_CHANGE_BY_ID = frozenset({
    "tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete",
    "tables_altered", "tables_dropped", "flushed_inlined", "compacted_table",
    "tables_compacted",
})  # fmt: skip
_CHANGE_BY_NAME = frozenset(
    {"tables_created", "views_created", "views_altered", "views_dropped"}
)  # "schema.name"
_CHANGE_ELSEWHERE = frozenset({"schemas_created"})


def _responses_changed(
    lake_con: duckdb.DuckDBPyConnection, since: int, until: int, table_id: int
) -> bool:
    """Whether any snapshot after `since` up to `until` changed the responses (the table
    `table_id`), or cannot be told apart from one that did (a snapshot missing from the
    log, a kind of change not known here)."""
    rows = lake_con.execute(
        f"SELECT snapshot_id, changes FROM ducklake_snapshots('{lake.ALIAS}') "
        "WHERE snapshot_id > $1 AND snapshot_id <= $2",
        [since, until],
    ).fetchall()
    if sorted(int(r[0]) for r in rows) != list(range(since + 1, until + 1)):
        return True
    for _, changes in rows:
        for kind, items in (changes or {}).items():
            if kind in _CHANGE_ELSEWHERE:
                continue
            if kind in _CHANGE_BY_NAME:
                # (names match whatever their case, as the engine resolves them)
                names = {str(i).rpartition(".")[2].lower() for i in items or ()}
                if schema.RESPONSES in names:
                    return True
            elif kind in _CHANGE_BY_ID:
                if str(table_id) in {str(i) for i in items or ()}:
                    return True
            else:
                return True
    return False


def _older(key: tuple[object, ...], than: tuple[object, ...]) -> bool:
    """Whether `key` is an earlier snapshot of the same lake and connection than `than`."""
    return key[:-1] == than[:-1] and int(key[-1]) < int(than[-1])  # type: ignore[call-overload]


def wait(location: str, timeout: float = 120.0) -> _Copy | None:
    """The lake's newest copy once its build has ended (None when none was started or it
    did not end within `timeout` seconds): for benchmarks and tests."""
    with _LOCK:
        copy = _COPIES.get(os.path.realpath(location))
    if copy is None or not copy.ready.wait(timeout):
        return None
    return copy


def _build(raw: duckdb.DuckDBPyConnection, copy: _Copy) -> None:
    try:
        _fill(raw, copy)
    except Exception as exc:  # a copy is an optimisation: the lake still answers
        copy.con, copy.why = None, f"build failed: {exc}"
        copy.failed_at = time.monotonic()
    finally:
        copy.ready.set()


def _fill(raw: duckdb.DuckDBPyConnection, copy: _Copy) -> None:
    """Copy the responses of copy.key's snapshot into the in-memory database attached to
    the store's own connection (one engine: no conversion on the way; see above)."""
    started = time.perf_counter()
    # maintenance must not expire what we read (the path as resolved when asked: a later
    # change of working directory must not move it)
    hold = lake.hold_snapshot(Path(str(copy.key[0])))
    cur = lake.cursor(raw)
    copy.builder = cur
    try:
        _step(cur).execute("SET TimeZone = " + _text(str(copy.key[-2])))  # see execute
        _step(cur).execute(f"ATTACH IF NOT EXISTS ':memory:' AS {_DATABASE} (COMPRESS)")
        # give the build's working memory back to the system (a 10M copy needs ~0.9 GB
        # while it is written, 0.12 GB once compressed; without this the process kept it)
        _step(cur).execute("SET allocator_background_threads = true")
        _step(cur).execute("BEGIN TRANSACTION")
        snapshot = lake.current_snapshot(cur)
        if snapshot != copy.key[-1]:
            copy.why = "a newer snapshot arrived"
            return
        table_id = _table_id(_step(cur), snapshot)
        columns = (
            _step(cur)
            .execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = $1 AND table_name = $2 ORDER BY ordinal_position",
                [lake.ALIAS, schema.RESPONSES],
            )
            .fetchall()
        )
        texts = [c for c, t in columns if t == "VARCHAR" and c not in LEFT_OUT]
        values = _enum_values(cur, texts)
        kept = [c for c, _ in columns if c not in LEFT_OUT and (c not in texts or c in values)]
        casts = ", ".join(
            f"CAST({_quote(c)} AS ENUM({_enum_list(values[c])})) AS {_quote(c)}"
            if values.get(c)
            else _quote(c)  # no value at all: an ENUM needs one
            for c in kept
        )
        place = f"{_DATABASE}.s{snapshot}_{next(_SERIAL)}"
        rows = int(_step(cur).execute(f"SELECT count(*) FROM {schema.RESPONSES}").fetchone()[0])
        _step(cur).execute(f"CREATE SCHEMA {place}")
        # in day order, then score key: a date range reads only its days' row groups
        # (min/max per group), and runs of equal days and keys group faster (the weekly
        # trend by region at 10M answers 93 -> 64 ms, the KPIs 14 ms either way)
        order = [c for c in (schema.DAY, "_score_key") if c in kept]
        _step(cur).execute(
            f"CREATE TABLE {place}.{schema.RESPONSES} AS SELECT {casts} "
            f"FROM {lake.ALIAS}.{schema.RESPONSES}"
            + (f" ORDER BY {', '.join(_quote(c) for c in order)}" if order else "")
        )
        _step(cur).execute("COMMIT")
        # compressed once written (the engine keeps a new table uncompressed until then):
        # ~12 bytes an answer instead of ~95
        _step(cur).execute(f"CHECKPOINT {_DATABASE}")
        held = _step(cur).execute(f"SELECT count(*) FROM {place}.{schema.RESPONSES}").fetchone()
        if held is None or int(held[0]) != rows:  # never answer from a partial copy
            raise CxError(f"the copy holds {held} answers, the lake {rows}")
        copy.place, copy.con, copy.why, copy.columns = place, raw, "ready", tuple(kept)
        copy.table_id = table_id
    finally:
        copy.builder = None
        with suppress(duckdb.Error):
            cur.close()
        if hold is not None:
            lake.release_snapshot(hold)
        copy.seconds = time.perf_counter() - started
        _drop_others(raw)


def _table_id(cur: duckdb.DuckDBPyConnection, snapshot: int) -> int:
    """The lake's id of the responses table at `snapshot` (0 when it cannot be told)."""
    meta = f"__ducklake_metadata_{lake.ALIAS}"
    live = "begin_snapshot <= $2 AND (end_snapshot IS NULL OR end_snapshot > $2)"
    rows = cur.execute(
        f"SELECT table_id FROM {meta}.ducklake_table WHERE lower(table_name) = $1 AND {live} "
        f"AND schema_id IN (SELECT schema_id FROM {meta}.ducklake_schema "
        f"WHERE schema_name = 'main' AND {live})",
        [schema.RESPONSES, snapshot],
    ).fetchall()
    return int(rows[0][0]) if len(rows) == 1 else 0


def _step(cur: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`cur`, unless the process is exiting (then CxError: the build stops here)."""
    if _STOPPING.is_set():
        raise CxError("the process is exiting")
    return cur


def _drop_others(raw: duckdb.DuckDBPyConnection) -> None:
    """Drop the copies on `raw` but the newest ones asked for: a query still reading one
    keeps its own view of it until it ends (the engine's transactions)."""
    with _LOCK:
        wanted = {c.place for c in _COPIES.values() if c.place}
    cur = raw.cursor()
    try:
        places = cur.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = $1 "
            "AND schema_name LIKE 's%'",
            [_DATABASE],
        ).fetchall()
        for (name,) in places:
            if f"{_DATABASE}.{name}" not in wanted:
                cur.execute(f"DROP SCHEMA {_DATABASE}.{_quote(name)} CASCADE")
    except duckdb.Error:
        pass  # none attached yet, or the connection is gone
    finally:
        cur.close()


def _enum_values(cur: duckdb.DuckDBPyConnection, texts: list[str]) -> dict[str, list[str]]:
    """The sorted distinct values of each text column with at most MAX_ENUM_VALUES of
    them (an approximate count first, so a column of ids is never listed)."""
    if not texts:
        return {}
    approx = _per_column(cur, "approx_count_distinct({})", texts)
    small = [c for c, n in zip(texts, approx, strict=True) if n <= 2 * MAX_ENUM_VALUES]
    if not small:
        return {}
    lists = _per_column(cur, "list_sort(list(DISTINCT {}))", small)
    return {
        c: [v for v in vs if v is not None]
        for c, vs in zip(small, lists, strict=True)
        if len(vs) <= MAX_ENUM_VALUES
    }


def _per_column(cur: duckdb.DuckDBPyConnection, aggregate: str, columns: list[str]) -> tuple:
    """One row: `aggregate` ("f({})") of each of `columns` over the responses."""
    row = (
        _step(cur)
        .execute(
            "SELECT "
            + ", ".join(aggregate.format(_quote(c)) for c in columns)
            + f" FROM {schema.RESPONSES}"
        )
        .fetchone()
    )
    return row or tuple(None for _ in columns)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _enum_list(values: list[str]) -> str:
    return ", ".join(_text(v) for v in values)
