"""The embedded store's format: a DuckLake (a catalog database plus Parquet files) in the
data directory, opened by every process that reads or writes it.

Why DuckLake and not one DuckDB file: a DuckDB file takes one writer process and no reader
beside it, so a dashboard and a scheduled import could not share a data directory. A
DuckLake catalog in SQLite's WAL mode lets any number of processes read while one writes;
readers see a commit on their next query. Two writers at once on a SQLite catalog can lose
a commit, so every write here takes an exclusive file lock first (`write_lock`).

Layout of a data directory:
- `catalog.sqlite` (+ its `-wal`/`-shm` files): tables, snapshots, the commit log;
- `lake/`: the Parquet files (zstd), one folder per table;
- `write.lock`: the lock every writer holds while it commits;
- `cx.duckdb.converted`: a store of the earlier single-file format, kept after its
  one-time conversion (README: "Going back").

The extensions come from PyPI wheels (duckdb-extension-ducklake, …-sqlite-scanner,
…-postgres-scanner), loaded from their files: nothing is downloaded at run time.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cxdata.errors import CxError, StoreBusy

ALIAS = "cx"  # the name the lake is attached under in every connection
CATALOG_FILE = "catalog.sqlite"
FILES_DIR = "lake"
LOCK_FILE = "write.lock"
NATIVE_FILE = "cx.duckdb"  # the earlier single-file format
NATIVE_BACKUP = "cx.duckdb.converted"
# The wheels hold the extension built for one DuckDB release (requirements.txt pins both).
_EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}


def catalog_url() -> str | None:
    """A PostgreSQL catalog for the lake ($CX_LAKE_CATALOG, `postgres://…`), or None for
    the SQLite catalog inside the data directory."""
    url = os.environ.get("CX_LAKE_CATALOG", "").strip()
    return url or None


def _connection() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection that fetches no extension at run time (they ship
    in PyPI wheels) and prints no progress bar: DuckDB writes one to stdout, even into a
    pipe, for a query over 2 s, which corrupted the command line's --json output. Its
    cursors inherit the setting."""
    raw = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    raw.execute("SET enable_progress_bar = false")
    threads = engine_threads()
    if threads is not None:
        raw.execute(f"SET threads = {threads}")
    return raw


def engine_threads() -> int | None:
    """Worker threads per DuckDB connection from $CX_DUCKDB_THREADS (unset: DuckDB's
    default, one per core). With one server process per core behind a proxy, 1 keeps
    concurrent sessions from competing for the same cores with each query's own workers.
    Raises CxError for a value that is not a whole number ≥ 1 (not silently ignored)."""
    text = os.environ.get("CX_DUCKDB_THREADS", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise CxError(f"CX_DUCKDB_THREADS must be a whole number of at least 1, got {text!r}")
    return int(text)


def write_timeout() -> float:
    """Seconds a writer waits for another one to finish ($CX_WRITE_TIMEOUT, default 60)."""
    try:
        return max(0.0, float(os.environ.get("CX_WRITE_TIMEOUT", "60")))
    except ValueError:
        return 60.0


def extension_file(name: str) -> Path:
    """The extension `name` shipped in its PyPI wheel, for the installed DuckDB release.

    Raises CxError naming the package to install when it is missing or built for another
    DuckDB release."""
    package = _EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    wanted = f"{package.replace('_', '-')}=={duckdb.__version__}"
    if spec is None or spec.origin is None:
        raise CxError(f"the DuckDB extension {name} is not installed: pip install {wanted}")
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    path = path / f"{name}.duckdb_extension"
    if not path.is_file():
        raise CxError(f"the installed {package} does not match DuckDB {duckdb.__version__}: "
                      f"pip install {wanted}")
    return path


def exists(data_dir: Path) -> bool:
    """Whether `data_dir` holds a lake (its SQLite catalog, or any catalog in Postgres)."""
    return catalog_url() is not None or (data_dir / CATALOG_FILE).exists()


def open_lake(data_dir: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection with the lake of `data_dir` attached as `cx` and in
    use. Paths are made absolute (a relative DATA_PATH would be read against each process's
    working directory). Raises duckdb.Error as the engine does (cxdata.faults words it)."""
    data_dir = data_dir.resolve()
    raw = _connection()
    try:
        postgres = catalog_url()
        for name in ("ducklake", "postgres_scanner" if postgres else "sqlite_scanner"):
            raw.execute(f"LOAD '{extension_file(name)}'")
        if postgres:
            source = f"ducklake:postgres:{postgres}"
            options = [f"DATA_PATH '{_quoted(str(data_dir / FILES_DIR))}/'"]
        else:
            source = f"ducklake:sqlite:{_readable_catalog(data_dir)}"
            # The catalog remembers the absolute path it was made with, but its files are
            # relative to it: a data directory moved or restored from a backup elsewhere
            # reads its own lake/ folder.
            options = [f"DATA_PATH '{_quoted(str(data_dir / FILES_DIR))}/'",
                       "OVERRIDE_DATA_PATH TRUE"]
            if not read_only:  # readers inside a query never block the writer
                options.append("META_JOURNAL_MODE 'WAL'")
        if read_only:
            options.append("READ_ONLY")
        raw.execute(f"ATTACH '{_quoted(source)}' AS {ALIAS} ({', '.join(options)})")
        if not read_only:
            with suppress(duckdb.Error):  # already set by an earlier process
                raw.execute(f"CALL {ALIAS}.set_option('parquet_compression', 'zstd')")
        raw.execute(f"USE {ALIAS}")
    except BaseException:
        raw.close()
        raise
    return raw


_CATALOG_COPIES: list[tempfile.TemporaryDirectory[str]] = []  # this process's private copies


def _readable_catalog(data_dir: Path) -> Path:
    """The SQLite catalog to attach: the data directory's own, or, when this process may not
    write that directory, a private copy of it. SQLite needs to create its shared-memory
    file beside a WAL-mode database even to read it, so a read-only directory is read from
    a copy taken now (the data as of this process's start)."""
    catalog = data_dir / CATALOG_FILE
    if os.access(data_dir, os.W_OK | os.X_OK) or not catalog.exists():
        return catalog
    # deleted when the process exits (TemporaryDirectory's finalizer)
    folder = tempfile.TemporaryDirectory(prefix="cx-catalog-")
    _CATALOG_COPIES.append(folder)
    copy = Path(folder.name) / CATALOG_FILE
    shutil.copyfile(catalog, copy)
    wal = data_dir / f"{CATALOG_FILE}-wal"
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(f"{CATALOG_FILE}-wal"))
    return copy


def cursor(raw: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor on `raw` that reads the lake (a cursor starts in the in-memory database)."""
    cur = raw.cursor()
    cur.execute(f"USE {ALIAS}")
    return cur


def current_snapshot(cur: duckdb.DuckDBPyConnection) -> int:
    """The id of the lake's newest committed snapshot (one catalog read)."""
    row = cur.execute(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Commit:
    """What one write records in the lake's snapshot log: who made it, what kind of change
    (`import`, `demo`, `replace`, `delete`, `themes`, `undo`, `convert`, `write`) and its
    details (file, mode, rows per dataset; JSON)."""

    kind: str = "write"
    author: str = ""
    details: dict[str, object] | None = None

    def sql(self) -> str:
        """The CALL that attaches this record to the open transaction's snapshot."""
        extra = json.dumps(self.details or {}, sort_keys=True, default=str)
        return (
            f"CALL {ALIAS}.set_commit_message('{_quoted(self.author)}', '{_quoted(self.kind)}', "
            f"extra_info => '{_quoted(extra)}')"
        )


@contextmanager
def write_lock(data_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the data directory's exclusive write lock (fcntl.flock on `write.lock`) for the
    block: writers run one after the other. Waits up to `timeout` seconds (default
    write_timeout()) for another writer, then raises StoreBusy in one line."""
    wait = write_timeout() if timeout is None else timeout
    path = data_dir.resolve() / LOCK_FILE
    with open(path, "a+b") as handle:
        _locked(handle.fileno(), wait, StoreBusy(
            f"another process has been writing to {data_dir} for more than {wait:g} s (an "
            "import, a theme run or maintenance); try again when it has finished "
            "(CX_WRITE_TIMEOUT sets the wait)",
            web="another import or update is being written; try again in a minute",
        ))
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _locked(fd: int, wait: float, busy: StoreBusy) -> None:
    """Take an exclusive flock on `fd`, waiting up to `wait` seconds; raise `busy` after."""
    if not _flocked(fd, fcntl.LOCK_EX, wait):
        raise busy


def _flocked(fd: int, mode: int, wait: float) -> bool:
    """Whether a flock in `mode` (LOCK_SH / LOCK_EX) on `fd` was taken within `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


# Maintenance and the dashboard runs that read one snapshot in one transaction coordinate
# with flock on the lake's own folders, never on files that could be deleted or owned by
# another user: maintenance holds the data directory exclusively while it works (the
# gate), and its files folder exclusively once the runs have ended; a run holds the files
# folder shared.


def _folder_fd(path: Path) -> int | None:
    """A descriptor on the folder `path` (created if missing), or None if it cannot be."""
    with suppress(OSError):
        path.mkdir(exist_ok=True)
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None


def hold_snapshot(data_dir: Path, timeout: float | None = None) -> int | None:
    """A hold for a run that reads the lake in one transaction (Store.reading), as a
    descriptor to give to release_snapshot; None when the run reads query by query (the
    catalog is in PostgreSQL, where maintenance on another machine cannot be seen, or the
    folders cannot be opened).

    Maintenance must not merge or expire files under an open transaction (tables it
    first read afterwards were seen empty, 0 rows and no error, and after an expiry the
    engine failed and took the process down), nor while a query starts (a review saw 0
    rows there too). So maintenance holds the gate, then waits until no run holds the
    files folder; a run waits until no maintenance holds the gate, then holds the folder
    shared. Waits up to `timeout` seconds (default write_timeout()) for maintenance, then
    raises StoreBusy: a run shows nothing rather than numbers read beside it."""
    if catalog_url() is not None:
        return None
    wait = write_timeout() if timeout is None else timeout
    root = data_dir.resolve()
    deadline = time.monotonic() + wait
    while True:
        gate = _folder_fd(root)
        if gate is None:
            return None
        try:
            free = _flocked(gate, fcntl.LOCK_SH, max(0.0, deadline - time.monotonic()))
        finally:
            os.close(gate)  # a maintenance that starts now finds the hold below
        if not free:
            raise StoreBusy(
                f"the store in {data_dir} has been under maintenance for more than {wait:g} "
                "s; try again when it has finished (CX_WRITE_TIMEOUT sets the wait)",
                web="the data store is being maintained; try again in a minute",
            )
        hold = _folder_fd(root / FILES_DIR)
        if hold is None:
            return None
        if _flocked(hold, fcntl.LOCK_SH, 0):
            return hold
        os.close(hold)  # maintenance took the gate after the check: wait for it again


def release_snapshot(hold: int) -> None:
    """End a hold_snapshot hold (closing the descriptor releases its lock)."""
    with suppress(OSError):
        os.close(hold)


@contextmanager
def runs_drained(data_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """For maintenance: new runs wait (the gate held) and the runs reading one snapshot
    have ended (the files folder held exclusively), for the block (see hold_snapshot).
    Waits up to `timeout` seconds (default write_timeout()), then raises StoreBusy."""
    wait = write_timeout() if timeout is None else timeout
    root = data_dir.resolve()
    busy = StoreBusy(
        f"dashboard runs kept reading {data_dir} for more than {wait:g} s; try the "
        "maintenance again (CX_WRITE_TIMEOUT sets the wait)",
        web="the dashboards are busy reading; try again in a minute",
    )
    gate, runs = _folder_fd(root), _folder_fd(root / FILES_DIR)
    try:
        if gate is None or runs is None:
            raise busy
        _locked(gate, wait, busy)
        _locked(runs, wait, busy)
        yield
    finally:
        for fd in (gate, runs):  # closing releases the locks
            if fd is not None:
                os.close(fd)


def needs_conversion(data_dir: Path) -> bool:
    """Whether `data_dir` holds a store of the earlier single-file format and no lake."""
    return (data_dir / NATIVE_FILE).exists() and not exists(data_dir)


def convert_native(data_dir: Path) -> dict[str, int]:
    """Copy every table of the earlier single-file store (`cx.duckdb`) into a new lake in
    one snapshot, then keep the old file as `cx.duckdb.converted`; the rows per table.

    The lake is built under a temporary catalog name and renamed when complete, so a
    conversion that fails half-way leaves the old file in use and is tried again on the
    next start. Raises duckdb.Error as the engine does (a damaged or locked old file)."""
    data_dir = data_dir.resolve()
    native = data_dir / NATIVE_FILE
    building = data_dir / f"{CATALOG_FILE}.converting"
    with write_lock(data_dir):
        if not needs_conversion(data_dir):
            return {}  # another process converted it while this one waited
        for stale in data_dir.glob(f"{CATALOG_FILE}.converting*"):
            stale.unlink()
        raw = _connection()
        try:
            for name in ("ducklake", "sqlite_scanner"):
                raw.execute(f"LOAD '{extension_file(name)}'")
            raw.execute(f"ATTACH '{_quoted(str(native))}' AS cx_native (READ_ONLY)")
            raw.execute(
                f"ATTACH 'ducklake:sqlite:{_quoted(str(building))}' AS {ALIAS} "
                f"(DATA_PATH '{_quoted(str(data_dir / FILES_DIR))}/', "
                "META_JOURNAL_MODE 'WAL')"
            )
            raw.execute(f"CALL {ALIAS}.set_option('parquet_compression', 'zstd')")
            tables = [
                row[0]
                for row in raw.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'cx_native' "
                    "AND schema_name = 'main' ORDER BY table_name"
                ).fetchall()
            ]
            rows: dict[str, int] = {}
            raw.execute("BEGIN TRANSACTION")
            for table in tables:
                raw.execute(
                    f'CREATE TABLE {ALIAS}.main."{table}" AS SELECT * FROM cx_native.main."{table}"'
                )
                count = raw.execute(f'SELECT count(*) FROM {ALIAS}.main."{table}"').fetchone()
                rows[table] = int(count[0]) if count else 0
            commit = Commit("convert", "cxdata", {"file": NATIVE_FILE, "rows": rows})
            raw.execute(commit.sql())
            raw.execute("COMMIT")
        finally:
            raw.close()
        building.rename(data_dir / CATALOG_FILE)
        native.rename(data_dir / NATIVE_BACKUP)
        wal = data_dir / f"{NATIVE_FILE}.wal"
        if wal.exists():
            wal.rename(data_dir / f"{NATIVE_BACKUP}.wal")
    return rows


def _quoted(text: str) -> str:
    return text.replace("'", "''")


@dataclass(frozen=True)
class Maintenance:
    """What one `maintain` run did: snapshots expired, data files merged away and files
    deleted from disk."""

    expired: int
    merged: int
    deleted: int


def maintain(
    raw: duckdb.DuckDBPyConnection, data_dir: Path, *, keep_days: int = 30, grace_hours: float = 24
) -> Maintenance:
    """Write small inlined inserts out to Parquet, merge small adjacent data files, expire
    the snapshots older than `keep_days` days (never the newest; undo and time travel
    reach back that far), and delete from disk the files no snapshot needs that were
    scheduled for deletion more than `grace_hours` ago (a reader still on an old snapshot
    keeps its files for that long), plus orphaned files as old. Holds the write lock and
    waits for the dashboard runs reading one snapshot (runs_drained), which wait for it
    in turn. Merging before expiring: a query starting while an expiry was followed by a
    merge read no rows (a review's stress test; the other order was clean)."""
    if keep_days < 0 or grace_hours < 0:
        raise ValueError("keep_days and grace_hours must be ≥ 0")
    with write_lock(data_dir), runs_drained(data_dir):
        cur = cursor(raw)
        try:
            # small writes are kept in the catalog itself; written out to Parquet here
            cur.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')").fetchall()
            merged = cur.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
            expired = cur.execute(
                f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => "
                f"now() - INTERVAL '{int(keep_days)} days')"
            ).fetchall()
            grace = f"now() - INTERVAL '{int(grace_hours * 3600)} seconds'"
            deleted = cur.execute(
                f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => {grace})"
            ).fetchall()
            orphans = cur.execute(
                f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => {grace})"
            ).fetchall()
        finally:
            cur.close()
    return Maintenance(
        expired=len(expired),
        merged=sum(int(row[2]) for row in merged),
        deleted=len(deleted) + len(orphans),
    )
