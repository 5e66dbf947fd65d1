"""The whole import: read → map → validate → write, atomically.

All tables touched by one import (responses and their touchpoint ratings) are written in
one DuckDB transaction: new rows are inserted, or a replacement is built beside the old
table and swapped in, and any failure rolls everything back, so the stored data is exactly
as it was. After the commit the original file is copied to <data dir>/imports/, the reject
report written beside it and the import logged.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from cxdata import faults, schema
from cxdata.importing.datasets import data_dir_of, imports_dir, record_import
from cxdata.importing.errors import MappingError, NothingToImport
from cxdata.importing.mapping import Mapping
from cxdata.importing.platforms import platform_label
from cxdata.importing.profiles import load_profile
from cxdata.importing.readers import Source, read_source
from cxdata.importing.rejects import write_rejects
from cxdata.importing.suggest import suggested_mapping
from cxdata.importing.validate import ExistingIds, Validated, validate
from cxdata.lake import Commit
from cxdata.store import Store, engine_errors, require_writable

MODES: tuple[str, ...] = ("append", "replace")
Progress = Callable[[float, str], None]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class ImportResult:
    """What an import did. Always `imported + rejected + already_stored == read`."""

    source: str
    dataset: str
    mode: str
    read: int
    imported: int
    rejected: int
    rejects_file: str | None
    already_stored: int = 0
    platform: str | None = None
    left_out: dict[str, str] = field(default_factory=dict)
    missing_answers: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    date_order: str | None = None
    ratings: int = 0
    without_scores: int = 0  # imported rows with no NPS, CSAT or CES (a rating or comment)
    stored_file: str | None = None
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    profile: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, counts first."""
        out = asdict(self)
        head = {
            k: out.pop(k)
            for k in ("read", "imported", "rejected", "already_stored", "rejects_file")
        }
        return {**head, **out}


def import_file(
    store: Store,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    profile: str | None = None,
    dataset: str | None = None,
    mode: str = "append",
    sheet: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the file at `path` into the store.

    The mapping is `mapping`, else the saved profile `profile`, else the profile saved for
    files with these headers, else the suggestion. `name` is the file name to report and to
    derive response ids from (the uploaded name when `path` is a temporary copy).
    """
    store.require_write("manage" if mode == "replace" else "import")  # before reading a byte
    started = time.perf_counter()
    report = progress or _silent
    report(0.0, "reading the file")
    source, mapping = read_with_mapping(
        store, path, mapping=mapping, profile=profile, dataset=dataset, sheet=sheet, name=name
    )
    result = import_source(store, source, mapping, mode=mode, progress=report)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def read_with_mapping(
    store: Store,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    profile: str | None = None,
    dataset: str | None = None,
    sheet: str | None = None,
    name: str | None = None,
    header_row: int | None = None,
) -> tuple[Source, Mapping]:
    """The file read (from the mapping's sheet unless `sheet` is given; with its header on
    `header_row`, else the mapping's header row, else where it is found) and the mapping to
    apply: `mapping`, else the profile `profile`, else the profile saved for these headers,
    else the suggestion."""
    data_dir = data_dir_of(store)
    if mapping is None and profile is not None:
        mapping = load_profile(profile, data_dir)
    source = read_source(
        path,
        sheet=sheet or (mapping.sheet if mapping else None),
        name=name,
        header_row=header_row or getattr(mapping, "header_row", None),
    )
    if mapping is None:
        mapping = suggested_mapping(source, dataset=dataset, data_dir=data_dir)
        if header_row is not None:  # a saved profile keeps the header row chosen by hand
            mapping.header_row = header_row
    elif dataset is not None and mapping.dataset != dataset:
        raise MappingError(f"the mapping is for {mapping.dataset}, not {dataset}")
    return source, mapping


def dry_run(store: Store, source: Source, mapping: Mapping, *, mode: str = "append") -> Validated:
    """Validate `source` under `mapping` against what is stored, without writing. Raises
    MappingError / DateOrderUndecided when the mapping cannot be applied."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    append = mode == "append"
    return validate(
        source,
        mapping,
        existing_ids=stored_ids(store) if append and mapping.dataset == schema.RESPONSES else None,
        existing_types=stored_types(store, mapping.dataset) if append else None,
        salt=id_salt(data_dir_of(store)),
    )


def id_salt(data_dir: str | Path) -> bytes:
    """The secret mixed into hashed customer ids: <data dir>/id_salt, made once (random,
    256 bits) and kept, so one address gets the same id in every import."""
    path = Path(data_dir) / "id_salt"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        salt = secrets.token_hex(32).encode()
        try:
            with path.open("xb") as f:  # a concurrent import may have made it first
                f.write(salt)
        except FileExistsError:
            return path.read_bytes()
        return salt


def import_source(
    store: Store,
    source: Source,
    mapping: Mapping,
    *,
    mode: str = "append",
    progress: Progress | None = None,
) -> ImportResult:
    """Validate and write a file already read; the stored data changes only if all of the
    write succeeds."""
    # Fail closed before reading a row: an import can carry any region, and replacing a
    # dataset needs more rights than appending to it (cxdata.roles).
    store.require_write("manage" if mode == "replace" else "import")
    require_writable(store)  # a read-only data dir: say so before a file is written
    started = time.perf_counter()
    report = progress or _silent
    report(0.3, "checking every row")
    checked = dry_run(store, source, mapping, mode=mode)
    data_dir = data_dir_of(store)
    if checked.imported and store.is_embedded:  # a full disk: refuse before writing
        kept = Path(source.path).stat().st_size  # the original, kept in imports/
        faults.require_free_space(
            data_dir, faults.bytes_needed([checked.frame, checked.ratings], extra=kept)
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = imports_dir(data_dir)
    rejects_file = None
    if checked.rejected:
        rejects_file = write_rejects(
            checked.rejects, folder / f"{stamp}-{Path(source.name).stem}.rejects.csv"
        )
    if checked.imported == 0 and mode == "replace":
        raise NothingToImport(
            f"{source.name}: no valid row ({checked.rejected} rejected"
            f"{f', see {rejects_file}' if rejects_file else ''}); the stored "
            f"{mapping.dataset} were left as they were"
        )
    stored_file = None
    if checked.imported:
        # The original is kept before the commit: a failure here changes nothing stored.
        folder.mkdir(parents=True, exist_ok=True)
        stored_file = folder / f"{stamp}-{_safe_name(source.name)}"
        shutil.copyfile(source.path, stored_file)
        report(0.7, f"writing {checked.imported} rows")
        try:
            with engine_errors(store):  # a fatal error: one line, the connection reopened
                store.write_tables(
                    _writes(store, checked, append=mode == "append"),
                    Commit("import", details={"file": source.name, "mode": mode,
                                              "kept": stored_file.name}),
                )
        except BaseException:
            stored_file.unlink(missing_ok=True)
            raise
    # From here on the rows are committed: what fails is a warning, never a failed import.
    theme_warnings = _updated_themes(store, mapping.dataset, checked.imported, report)
    theme_warnings += _alerts(store, checked.imported)
    result = ImportResult(
        source=source.name,
        dataset=mapping.dataset,
        mode=mode,
        read=checked.read,
        imported=checked.imported,
        rejected=checked.rejected,
        rejects_file=str(rejects_file) if rejects_file else None,
        already_stored=checked.already_stored,
        platform=platform_label(mapping.platform),
        left_out={c.source: c.note or "left out" for c in mapping.left_out()},
        missing_answers=checked.missing_answers,
        warnings=[*mapping.notes, *mapping.warnings(), *checked.warnings, *theme_warnings],
        date_order=checked.date_order,
        ratings=len(checked.ratings),
        without_scores=checked.without_scores,
        stored_file=str(stored_file) if stored_file else None,
        format=source.format,
        encoding=source.encoding,
        delimiter=source.delimiter,
        sheet=source.sheet,
        profile=mapping.profile,
        seconds=round(time.perf_counter() - started, 3),
    )
    try:
        _log(data_dir, result, mode)
    except OSError as exc:
        result.warnings.append(f"the import log could not be written ({exc.strerror})")
    report(1.0, f"imported {result.imported} of {result.read} rows")
    return result


def _log(data_dir: Path, result: ImportResult, mode: str) -> None:
    """One entry in the import log: what was committed."""
    record_import(
        data_dir,
        {
            "at": dt.datetime.now().isoformat(timespec="seconds"),
            "dataset": result.dataset,
            "file": result.source,
            "stored_file": result.stored_file,
            "mode": mode,
            "read": result.read,
            "imported": result.imported,
            "rejected": result.rejected,
            "already_stored": result.already_stored,
            "platform": result.platform,
            "rejects_file": result.rejects_file,
            "profile": result.profile,
        },
    )


def stored_ids(store: Store) -> ExistingIds | None:
    """A check of which response ids are already stored (None when there are none), over
    every stored row (Store.all_rows: CxError on a restricted Store)."""
    if not store.has(schema.RESPONSES):
        return None
    table = store.all_rows(schema.RESPONSES)
    if "response_id" not in table.columns:
        return None

    def check(ids: pd.Series) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, dtype=bool)
        wanted = pa.table({"response_id": pa.array(ids.unique(), pa.string())})
        if store.is_embedded:  # a registered view, not a memtable left in the catalog
            cur = store.cursor()
            try:
                cur.register("cx_import_ids", wanted)
                found = cur.execute(
                    f'SELECT w.response_id FROM cx_import_ids w SEMI JOIN "{schema.RESPONSES}" '
                    "r ON CAST(r.response_id AS VARCHAR) = w.response_id"
                ).fetchnumpy()["response_id"]
            finally:
                cur.close()
        else:
            mem = ibis.memtable(wanted)
            found = mem.semi_join(table, mem.response_id == table.response_id).to_pyarrow()
            found = found.column("response_id").to_numpy(zero_copy_only=False)
        return ids.isin(found).to_numpy(dtype=bool)

    return check


def stored_types(store: Store, dataset: str) -> dict[str, str]:
    """Column → stored type name ("string", "int64", "timestamp(6)"…) of a dataset
    (Store.all_rows: CxError on a restricted Store)."""
    if not store.has(dataset):
        return {}
    stored = store.all_rows(dataset).schema()
    return {name: str(dtype).lstrip("!") for name, dtype in stored.items()}


def _writes(
    store: Store, checked: Validated, *, append: bool
) -> list[tuple[str, pd.DataFrame, bool]]:
    """What to write; Store.write_tables gives each frame the contract's types."""
    writes = [(checked.dataset, checked.frame, append)]
    if checked.dataset == schema.RESPONSES:
        ratings = checked.ratings
        if len(ratings) or (not append and store.has(schema.TOUCHPOINT_RATINGS)):
            writes.append((schema.TOUCHPOINT_RATINGS, ratings, append))
    return writes


def _updated_themes(store: Store, dataset: str, imported: int, report: Progress) -> list[str]:
    """Analyse the new comments when themes were computed before (voc.update_themes: only
    comments without results; results of replaced responses are dropped). The rows are
    already stored, so a failure here is a warning, not a failed import."""
    from cxdata.voc import persist as voc  # imported on use: keeps `import` light

    if dataset != schema.RESPONSES or not imported or not voc.has_results(store):
        return []
    try:
        voc.update_themes(store, lambda f, m: report(0.8 + 0.15 * f, f"themes: {m}"))
    except Exception as exc:  # the rows are committed: any failure here is only a warning
        return [
            f"comment themes were not updated ({exc}); run `python -m cxdata themes "
            "--update` or press “Update themes” on the Feedback page"
        ]
    return []


def _alerts(store: Store, imported: int) -> list[str]:
    """The alert rules evaluated on the new data (cxdata.notify.send.alerts_after_import):
    warnings only, the rows are committed."""
    if not imported:
        return []
    from cxdata.notify.send import alerts_after_import  # on use: keeps `import` light

    return alerts_after_import(store)


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", Path(name).name).strip("._") or "upload"


def _silent(_fraction: float, _message: str) -> None:
    return None
