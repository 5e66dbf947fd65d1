"""The store: an embedded DuckDB file (default) or any Ibis backend behind a URL.

DuckDB allows one read-write connection per file and process, and Ibis backends are not
thread-safe (ibis#10346). So: one raw DuckDB connection per process and file, and every
Store gets its own cursor on it. A Store must not be shared between threads; make one
per thread or per Streamlit session with `connect()`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from cxdata import config, faults, schema
from cxdata.errors import CxError, NoData
from cxdata.filters import in_list
from cxdata.roles import ROLES, require_role
from cxdata.scores import DERIVED, with_derived

DB_FILE = "cx.duckdb"
# Replacing these datasets (not appending) or deleting any dataset is "manage" (admin);
# every other write — appends, the theme model — is "import" (analyst). See cxdata.roles.
CUSTOMER_DATASETS: frozenset[str] = frozenset(
    {schema.RESPONSES, schema.TOUCHPOINT_RATINGS, schema.METRICS}
)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

_lock = threading.Lock()
_raw: dict[Path, duckdb.DuckDBPyConnection] = {}
# Bumped by every write in this process. The embedded file has one writer process, so a
# Store's cached catalog (table names, schemas) is current while the generation is unchanged.
_generation = 0


def _bump_generation() -> None:
    global _generation
    with _lock:
        _generation += 1


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
    ) -> None:
        self.backend = backend
        self.raw = raw
        self.location = location
        self.restrict: dict[str, tuple[str, ...]] = dict(restrict or {})
        self.role = role
        self._catalog_generation = -1
        self._tables: dict[str, ir.Table] = {}

    def restricted(self, restrict: Mapping[str, tuple[str, ...]]) -> Store:
        """A Store on the same connection that sees only rows inside `restrict`."""
        merged = dict(self.restrict)
        for dim, values in restrict.items():
            prior = merged.get(dim)
            merged[dim] = tuple(v for v in values if prior is None or v in prior)
        return Store(
            self.backend, raw=self.raw, location=self.location, restrict=merged, role=self.role
        )

    def acting_as(self, role: str) -> Store:
        """A Store on the same connection and restriction whose writes need `role`'s rights
        (a Store never gains rights: acting_as on a Store with a role keeps the lesser)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        if self.role is not None and ROLES.index(self.role) < ROLES.index(role):
            role = self.role
        return Store(
            self.backend, raw=self.raw, location=self.location, restrict=self.restrict, role=role
        )

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
        customer dataset, else "import"."""
        replaces = any(not append and name in CUSTOMER_DATASETS for name, _, append in writes)
        return "manage" if replaces else "import"

    def _catalog(self) -> dict[str, ir.Table]:
        """Unrestricted tables by name, re-read only after a write in this process."""
        if self._catalog_generation != _generation:
            self._catalog_generation = _generation
            self._tables = {
                name: self.backend.table(name)
                for name in self.backend.list_tables()
                if not name.endswith("__new")
            }
        return self._tables

    def has(self, name: str) -> bool:
        """Whether the dataset exists."""
        return name in self._catalog()

    def table(self, name: str) -> ir.Table:
        """The dataset `name`, with the row restriction applied."""
        if not self.has(name):
            raise NoData(
                f"no {name} data yet in {self.location}: run `python -m cxdata demo` "
                "or import a file"
            )
        table = self._catalog()[name]
        if not self.restrict:
            return table
        # Fail closed (DESIGN §10): every restriction reaches every table, or the table is
        # hidden. A key "<dataset>:<dimension>" is that dataset's own restriction from the
        # access file (cxdata.access), standing in for the dimensions the dataset lacks.
        from cxdata.voc.tables import TOPIC_TERMS, TOPICS  # the theme model: no customer rows

        own = any(k.rpartition(":")[0] == name for k in self.restrict)
        preds: list[ir.BooleanValue] = []
        via_responses = hidden = False
        for key, values in self.restrict.items():
            dataset, _, dim = key.rpartition(":")
            if dataset and dataset != name:
                continue  # another dataset's own restriction
            if dim in table.columns:
                preds.append(in_list(table[dim], values))
            elif dataset:
                hidden = True  # its own restriction names a column it does not have
            elif name == schema.RESPONSES:
                raise CxError(
                    f"the access restriction on {dim!r} cannot be applied: the responses "
                    "have no such column, so no data is shown; ask an administrator to "
                    "fix the access file"
                )
            elif name in (TOPICS, TOPIC_TERMS):
                continue  # the theme model (labels, term weights) holds no customer rows
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

    def replace_table(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Replace a dataset atomically: the new rows are written first, then swapped in."""
        self._write(name, frame, append=False)

    def append_rows(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Append rows atomically (all or nothing); new columns are added as needed."""
        self._write(name, frame, append=True)

    def drop_table(self, name: str) -> None:
        """Delete a dataset."""
        self.drop_tables([name])

    def drop_tables(self, names: Sequence[str]) -> None:
        """Delete several datasets as one (a dataset and the ones that point into it)."""
        for name in names:
            _check_ident(name)
        self.require_write("manage", "delete data")
        try:
            if self.raw is None:
                for name in names:
                    self.backend.drop_table(name, force=True)
                return
            self._in_transaction([f'DROP TABLE IF EXISTS "{name}"' for name in names])
        finally:
            _bump_generation()

    def write_tables(self, writes: Sequence[tuple[str, pd.DataFrame | pa.Table, bool]]) -> None:
        """Write several datasets as one: (name, rows, append?) each. In DuckDB it is one
        transaction, so either every table changes or none does (an import writes responses
        and their touchpoint ratings together); other backends write table by table."""
        try:
            self._write_now(writes)
        finally:
            _bump_generation()

    def _write(self, name: str, frame: pd.DataFrame | pa.Table, *, append: bool) -> None:
        self.write_tables([(name, frame, append)])

    def _write_now(self, writes: Sequence[tuple[str, pd.DataFrame | pa.Table, bool]]) -> None:
        self.require_write(self.write_action(writes))
        tables = []
        for name, frame, append in writes:
            _check_ident(name)
            tables.append((name, conformed(name, frame), append))
        if self.raw is None:
            for name, data, append in tables:
                self._write_generic(name, data, append=append)
            return
        statements: list[str] = []
        cur = self.raw.cursor()
        try:
            for i, (name, data, append) in enumerate(tables):
                view = f"cx_incoming_{i}"
                cur.register(view, data)
                if append and self.has(name):
                    stored = self._catalog()[name].columns
                    derived = name == schema.RESPONSES and all(c in stored for c in DERIVED)
                    statements += _add_column_statements(cur, name, data.schema)
                    source = _select_with_derived(view, data.schema) if derived else f'"{view}"'
                    names = [*data.column_names, *(DERIVED if derived else ())]
                    cols = ", ".join(f'"{c}"' for c in dict.fromkeys(names))
                    statements.append(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM {source}')
                else:
                    order = (
                        ' ORDER BY "submitted_at"' if "submitted_at" in data.column_names else ""
                    )
                    source = (
                        _select_with_derived(view, data.schema)
                        if name == schema.RESPONSES
                        else f'"{view}"'
                    )
                    statements += [
                        f'CREATE OR REPLACE TABLE "{name}__new" AS SELECT * FROM {source}{order}',
                        f'DROP TABLE IF EXISTS "{name}"',
                        f'ALTER TABLE "{name}__new" RENAME TO "{name}"',
                    ]
            _run_in_transaction(cur, statements)
        finally:
            cur.close()

    def _in_transaction(self, statements: Sequence[str]) -> None:
        assert self.raw is not None
        cur = self.raw.cursor()
        try:
            _run_in_transaction(cur, statements)
        finally:
            cur.close()

    def _write_generic(self, name: str, data: pa.Table, *, append: bool) -> None:
        if append and self.has(name):
            self.backend.insert(name, data)
        else:
            self.backend.create_table(name, data, overwrite=True)


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
    else the DuckDB file in `data_dir` / $CX_DATA_DIR.

    The directory and its store file are created on first use only when `create` (commands
    that write); otherwise a missing one is a NoData error and nothing is created. A store
    this process may not write (a read-only directory or file) is opened read-only: it can
    be read, and writes say the directory is read-only. Raises CxError in one line for a
    damaged file, a file another process holds, or a warehouse that does not answer within
    $CX_CONNECT_TIMEOUT seconds."""
    url = url or config.database_url()
    if url:
        try:
            return Store(ibis.connect(url, **faults.url_options(url)), location=_redacted(url))
        except Exception as exc:  # the driver's own message says what is wrong
            raise faults.connect_error(exc, _redacted(url)) from exc
    path = Path(data_dir) if data_dir is not None else config.data_dir()
    raw = _process_connection(path, read_only=read_only, create=create)
    return Store(ibis.duckdb.from_connection(raw.cursor()), raw=raw, location=str(path))


def _process_connection(
    data_dir: Path, *, read_only: bool, create: bool = True
) -> duckdb.DuckDBPyConnection:
    key = data_dir.resolve()
    file = key / DB_FILE
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
        if (read_only or not create) and not file.exists():
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
                if not file.exists():
                    raise faults.read_only(key)
                read_only = True  # readable, never written: reads work, writes say why
        try:
            _raw[key] = duckdb.connect(str(file), read_only=read_only)
        except duckdb.Error as exc:
            raise (faults.store_error(exc, file) or exc) from exc
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
    cur = store.raw.cursor()
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


def _select_with_derived(view: str, incoming: pa.Schema) -> str:
    """A subquery over the registered `view` that adds scores.DERIVED (compiled by Ibis from
    the same expressions the queries use)."""
    unbound = ibis.table(ibis.Schema.from_pyarrow(incoming), name=view)
    return f"({ibis.to_sql(with_derived(unbound), dialect='duckdb')})"


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


def _add_column_statements(
    cur: duckdb.DuckDBPyConnection, name: str, incoming: pa.Schema
) -> list[str]:
    """ALTER TABLE statements for the incoming columns the stored table lacks (as VARCHAR)."""
    existing = {row[0] for row in cur.execute(f'DESCRIBE "{name}"').fetchall()}
    out = []
    for field in incoming:
        if field.name not in existing:
            _check_ident(field.name)
            out.append(f'ALTER TABLE "{name}" ADD COLUMN "{field.name}" VARCHAR')
    return out


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
