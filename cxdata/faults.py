"""What went wrong under the store, in one clear line: a damaged file, a lock held by
another process, a read-only or full disk, a fatal engine error, a silent warehouse host.

`store_error` turns an engine exception into a CxError (or None when it is none of these)
and `must_reopen` says whether the process's connection to the file has to be dropped;
cxdata.store does the dropping. The messages name the file or directory (the CLI shows
them); each also carries a `web` form without server paths (cxdata.errors).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pandas as pd
import pyarrow as pa

from cxdata import config, lake
from cxdata.errors import CxError, StoreBusy, StoreDamaged

MB = 1024 * 1024
# An import needs room for its rows about three times over (the new table, the write-ahead
# log, the checkpoint), plus a margin for the engine's own blocks and the import's files.
SPACE_FACTOR = 3
SPACE_MARGIN = 16 * MB

_LOCKED = ("could not set lock on file",)
_DAMAGED = {
    "not a valid duckdb database file": "it is not a DuckDB database file",
    "could not read enough bytes": "part of the file is missing",
    "corrupt database file": "a block of the file is corrupt",
    "checksum": "a block of the file is corrupt",
    # the lake's SQLite catalog
    "file is not a database": "the catalog is not a SQLite database",
    "database disk image is malformed": "the catalog file is corrupt",
    "file is encrypted or is not a database": "the catalog is not a SQLite database",
}
_DISK_FULL = (
    "no space left on device", "not enough space on the disk", "disk quota exceeded",
    "database or disk is full",
)
_SQLITE_IO = "disk i/o error"  # SQLite's word for a failed read or write of its files
_READ_ONLY = ("read-only mode", "read-only file system", "permission denied")
_RESTART = ("must be restarted", "has been invalidated")
_CLOSED = ("connection already closed", "connection has already been closed")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _text(exc: BaseException) -> str:
    return " ".join(str(e) for e in _chain(exc)).lower()


def _engine_errors(exc: BaseException) -> list[duckdb.Error]:
    return [e for e in _chain(exc) if isinstance(e, duckdb.Error)]


def must_reopen(exc: BaseException) -> bool:
    """Whether the engine error leaves the process's connection unusable or suspect: a
    fatal error, an I/O error, or an internal error that says the database must be
    restarted. The connection is then dropped and the next connect() reopens the file."""
    errors = _engine_errors(exc)
    if any(isinstance(e, (duckdb.FatalException, duckdb.IOException)) for e in errors):
        return True
    if any(_SQLITE_IO in str(e).lower() for e in errors):
        return True
    return any(any(s in str(e).lower() for s in _RESTART) for e in errors)


def _os_reason(exc: BaseException) -> str:
    """The operating system's words at the end of an I/O message (`…": Input/output
    error`), without the path before them."""
    for e in _chain(exc):
        match = re.search(r'"\s*:\s*([^":\n]+?)"?\s*$', str(e).strip())
        if match:
            return match.group(1).strip()
    return ""


def store_error(exc: BaseException, file: str | Path) -> CxError | None:
    """One clear line for an engine failure of the store `file` (the DuckDB file; for a
    warehouse, where it would be), or None when the exception is not one of the kinds named
    in this module (it is then re-raised as it is)."""
    if not _engine_errors(exc) and not _is_warehouse_error(exc):
        return None
    file = Path(file).absolute()
    folder = file.parent
    text = _text(exc)
    if any(s in text for s in _LOCKED):
        return busy(file, " ".join(str(e) for e in _chain(exc)))
    for needle, why in _DAMAGED.items():
        if needle in text:
            return damaged(file, why)
    missing = _MISSING_DATA_FILE.search(" ".join(str(e) for e in _chain(exc)))
    if missing:
        return missing_data_file(Path(missing.group(1)))
    if any(s in text for s in _DISK_FULL) or (_SQLITE_IO in text and _disk_full(folder)):
        return CxError(
            f"the disk holding the data directory {folder} is full: the last change was not "
            "saved and the data stored before is kept; free some space and try again",
            web="the disk holding the data directory is full: the last change was not saved "
            "and the data stored before is kept; ask an administrator to free some space",
        )
    if any(s in text for s in _READ_ONLY):
        return read_only(folder)
    if "statement timeout" in text:
        return CxError(
            f"the warehouse query took longer than {config.statement_timeout()} s and was "
            "cancelled (CX_STATEMENT_TIMEOUT): narrow the filters or raise the limit"
        )
    if must_reopen(exc):
        if any(isinstance(e, duckdb.InternalException) for e in _engine_errors(exc)):
            reason = "an internal error of the database engine"
        else:
            os_reason = _os_reason(exc)
            reason = "reading or writing its file failed" + (f": {os_reason}" if os_reason else "")
        return CxError(
            f"the data store {file} failed ({reason}) and was closed: it reopens on the next "
            "request with everything stored before; try again",
            web=f"the data store failed ({reason}) and was closed: it reopens on the next "
            "request with everything stored before; try again",
        )
    if any(s in text for s in _CLOSED):
        return CxError(
            "the data store was reopened after an error: reload the page to see the data again"
        )
    return None


_MISSING_DATA_FILE = re.compile(
    r'(?:cannot open file|no files found that match the pattern) "([^"]+\.parquet)"', re.I
)


def missing_data_file(path: Path) -> StoreDamaged:
    """A Parquet file the lake's catalog lists is gone: which one, and the way back."""
    return StoreDamaged(
        f"a data file of the store is missing: {path} (the catalog still lists it), so the "
        "data cannot be read. Put the file back from a backup of the data directory; if "
        "there is none, move the data directory aside and import the originals kept in its "
        "imports folder again. Nothing is changed until then",
        web="a data file of the store is missing, so the data cannot be read: an "
        "administrator can restore it from a backup of the data directory or import the "
        "kept originals again",
    )


def _disk_full(folder: Path) -> bool:
    """Whether the disk holding `folder` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < SPACE_MARGIN
    except OSError:
        return False


def busy(file: Path, text: str = "") -> StoreBusy:
    """Another process holds the store's lock."""
    held = re.search(r"held in (.+?) \(PID (\d+)\)", text, re.IGNORECASE)
    by = f" (held by process {held.group(2)}, {held.group(1)})" if held else ""
    return StoreBusy(
        f"the data store {file} is in use by another process{by}: is the dashboard or "
        "another import running?",
        web="the data store is in use by another process: is a second dashboard or an "
        "import from the command line running on this server?",
    )


def damaged(file: Path, why: str) -> StoreDamaged:
    """The store `file` cannot be read: what is wrong, which file, and what to restore
    from. The store keeps no backup copy of itself; every import keeps its original file in
    <data dir>/imports (cxdata.importing.load)."""
    imports = file.parent / "imports"
    originals = _import_originals(imports)
    backup = file.parent / lake.NATIVE_BACKUP
    if backup.exists() and file.name != lake.NATIVE_FILE:
        restore = (
            f"the store as it was before it became a lake is kept as {backup}; the originals "
            f"of {originals} imports are kept in {imports}: move {file} and the lake folder "
            "aside, rename the backup to cx.duckdb (it is converted again on the next start) "
            "and import the later files again"
        )
        web_restore = (
            "the store as it was before it became a lake is kept in the data directory: an "
            "administrator can restore it and import the later files again"
        )
    elif originals:
        restore = (
            f"there is no backup copy of the store, but the originals of {originals} imports "
            f"are kept in {imports}: move {file} aside and import them again"
        )
        web_restore = (
            f"there is no backup copy of the store, but the originals of {originals} imports "
            "are kept in the data directory's imports folder: an administrator can move "
            f"{file.name} aside and import them again"
        )
    else:
        restore = (
            f"there is no backup copy of the store and no import originals in {imports}: "
            f"move {file} aside and import your files again (or run `python -m cxdata demo`)"
        )
        web_restore = (
            "there is no backup copy of the store and no import originals in the data "
            f"directory: an administrator can move {file.name} aside and import the files again"
        )
    return StoreDamaged(
        f"the data store {file} is damaged ({why}), so it cannot be read; it is not in use "
        f"by another process. {restore[0].upper()}{restore[1:]}",
        web=f"the data store {file.name} in the data directory is damaged ({why}), so it "
        f"cannot be read. {web_restore[0].upper()}{web_restore[1:]}",
    )


def _import_originals(imports: Path) -> int:
    try:
        return sum(
            1
            for p in imports.iterdir()
            if p.is_file() and not p.name.endswith((".rejects.csv", ".json", ".tmp"))
        )
    except OSError:
        return 0


def read_only(folder: Path) -> CxError:
    """The data directory (or its store file) cannot be written by this process."""
    return CxError(
        f"the data directory {folder} is read-only for this process: the data can be read "
        "but not changed",
        web="the data directory is read-only: the data can be read but not changed",
    )


def writable(file: Path) -> bool:
    """Whether this process may write the store `file`: its directory (for the write-ahead
    log) and the file itself when it exists."""
    return os.access(file.parent, os.W_OK | os.X_OK) and (
        not file.exists() or os.access(file, os.W_OK)
    )


# --- free space ------------------------------------------------------------------------


def bytes_needed(frames: Sequence[pd.DataFrame | pa.Table], extra: int = 0) -> int:
    """About how many bytes writing `frames` takes on disk: SPACE_FACTOR × their Arrow
    size, plus `extra` (files kept beside the store) and SPACE_MARGIN."""
    size = 0
    for frame in frames:
        if isinstance(frame, pa.Table):
            size += frame.nbytes
            continue
        try:
            size += pa.Table.from_pandas(frame, preserve_index=False).nbytes
        except (pa.ArrowException, TypeError, ValueError):  # mixed object columns
            size += int(frame.memory_usage(index=False, deep=True).sum())
    return SPACE_FACTOR * size + extra + SPACE_MARGIN


def require_free_space(folder: str | Path, needed: int) -> None:
    """Raise CxError unless the disk of `folder` has `needed` bytes free (checked before
    anything is written, so a refused import leaves everything as it was)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent  # the directory is made on first write
    free = shutil.disk_usage(path).free
    if free < needed:
        raise CxError(
            f"not enough free disk space in the data directory: {free // MB} MB free, "
            f"about {-(-needed // MB)} MB needed; nothing was imported"
        )


# --- warehouse URLs --------------------------------------------------------------------

_POSTGRES = ("postgres", "postgresql")


def url_options(url: str) -> dict[str, object]:
    """Connection options that bound how long a warehouse may stay silent, unless the URL
    sets them itself: PostgreSQL gets `connect_timeout` ($CX_CONNECT_TIMEOUT, seconds) and
    a `statement_timeout` ($CX_STATEMENT_TIMEOUT, seconds; 0 = none)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    options: dict[str, object] = {}
    if parts.scheme.lower() in _POSTGRES:
        if "connect_timeout" not in query:
            options["connect_timeout"] = config.connect_timeout()
        limit = config.statement_timeout()
        if "options" not in query and limit:
            options["options"] = f"-c statement_timeout={limit * 1000}"
    return options


def connect_error(exc: BaseException, shown_url: str) -> CxError:
    """One line for a failed warehouse connection (`shown_url` has no password)."""
    text = " ".join(str(exc).split())
    if "timeout" in text.lower() or "timed out" in text.lower():
        return CxError(
            f"cannot connect to {shown_url}: the host did not answer within "
            f"{config.connect_timeout()} s (CX_CONNECT_TIMEOUT)"
        )
    return CxError(f"cannot connect to {shown_url}: {text}")


def _is_warehouse_error(exc: BaseException) -> bool:
    return any(type(e).__module__.split(".")[0] == "psycopg" for e in _chain(exc))
