"""The store: an embedded DuckDB file (default) or any Ibis backend behind a URL.

DuckDB allows one read-write connection per file and process, and Ibis backends are not
thread-safe (ibis#10346). So: one raw DuckDB connection per process and file, and every
Store gets its own cursor on it. A Store must not be shared between threads; make one
per thread or per Streamlit session with `connect()`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from cxdata import config, schema
from cxdata.errors import CxError, NoData, StoreBusy
from cxdata.filters import in_list
from cxdata.scores import DERIVED, with_derived

DB_FILE = "cx.duckdb"
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
    """

    def __init__(
        self,
        backend: ibis.BaseBackend,
        *,
        raw: duckdb.DuckDBPyConnection | None = None,
        location: str = "",
        restrict: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.backend = backend
        self.raw = raw
        self.location = location
        self.restrict: dict[str, tuple[str, ...]] = dict(restrict or {})
        self._catalog_generation = -1
        self._tables: dict[str, ir.Table] = {}

    def restricted(self, restrict: Mapping[str, tuple[str, ...]]) -> Store:
        """A Store on the same connection that sees only rows inside `restrict`."""
        merged = dict(self.restrict)
        for dim, values in restrict.items():
            prior = merged.get(dim)
            merged[dim] = tuple(v for v in values if prior is None or v in prior)
        return Store(self.backend, raw=self.raw, location=self.location, restrict=merged)

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
        if self.restrict:
            raise CxError("a restricted view cannot delete data")
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
        if self.restrict:
            raise CxError("a restricted view cannot write data")
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
    data_dir: str | Path | None = None, url: str | None = None, *, read_only: bool = False
) -> Store:
    """A new Store for this thread: the warehouse at `url` / $CX_DATABASE_URL if given,
    else the DuckDB file in `data_dir` / $CX_DATA_DIR (created on first use)."""
    url = url or config.database_url()
    if url:
        try:
            return Store(ibis.connect(url), location=_redacted(url))
        except Exception as exc:  # the driver's own message says what is wrong
            raise CxError(f"cannot connect to {_redacted(url)}: {exc}") from exc
    path = Path(data_dir) if data_dir is not None else config.data_dir()
    raw = _process_connection(path, read_only=read_only)
    return Store(ibis.duckdb.from_connection(raw.cursor()), raw=raw, location=str(path))


def _process_connection(data_dir: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    key = data_dir.resolve()
    with _lock:
        if key not in _raw:
            if not read_only:
                key.mkdir(parents=True, exist_ok=True)
            try:
                _raw[key] = duckdb.connect(str(key / DB_FILE), read_only=read_only)
            except duckdb.IOException as exc:
                raise StoreBusy(
                    f"the data store {key / DB_FILE} is in use by another process "
                    f"(is the dashboard running?): {exc}"
                ) from exc
        return _raw[key]


def close(data_dir: str | Path) -> None:
    """Close the process-wide DuckDB connection of one data directory, if open (tests that
    make many small stores; other stores stay open)."""
    with _lock:
        raw = _raw.pop(Path(data_dir).resolve(), None)
    if raw is not None:
        raw.close()


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
