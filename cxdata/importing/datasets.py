"""What is stored: the datasets with their row counts and date ranges, the import log kept
beside the store (<data dir>/imports/log.json), and deleting a dataset."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from cxdata import catalog, config, history, schema
from cxdata.store import Store
from cxdata.voc import tables as voc_tables

DATASETS: tuple[str, ...] = (schema.RESPONSES, schema.TOUCHPOINT_RATINGS, schema.METRICS)
DATE_COLUMNS = catalog.DATE_COLUMNS  # re-exported: one definition
# Deleting or replacing a dataset takes these along (their rows point into it).
DEPENDENTS: dict[str, tuple[str, ...]] = {
    schema.RESPONSES: (schema.TOUCHPOINT_RATINGS, *voc_tables.ALL),
}
LOG_FILE = "log.json"


def data_dir_of(store: Store) -> Path:
    """The directory beside the store for imports and mappings: the embedded store's own
    directory, or $CX_DATA_DIR / ./data for a warehouse."""
    return Path(store.location) if store.is_embedded else config.data_dir()


def imports_dir(data_dir: str | Path) -> Path:
    """Where originals, reject reports and the import log are kept."""
    return Path(data_dir) / "imports"


def import_log(data_dir: str | Path) -> list[dict[str, Any]]:
    """Every import recorded, oldest first."""
    path = imports_dir(data_dir) / LOG_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return entries if isinstance(entries, list) else []


def record_import(data_dir: str | Path, entry: dict[str, Any]) -> None:
    """Append one entry to the import log (written whole to a new file, then swapped in)."""
    folder = imports_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [*import_log(data_dir), entry]
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=folder, delete=False, suffix=".tmp"
    ) as tmp:
        json.dump(entries, tmp, ensure_ascii=False, indent=1, default=str)
    os.replace(tmp.name, folder / LOG_FILE)


def last_imports(data_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The latest import of each dataset."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in import_log(data_dir):
        latest[str(entry.get("dataset"))] = entry
    return latest


def _last_changes(store: Store) -> dict[str, dict[str, Any]]:
    """The latest import of each dataset that is still in effect: from the lake's change
    log on the embedded store (an undone import no longer counts), else from the import
    log beside the store."""
    if not store.is_embedded or store.restrict:
        return last_imports(data_dir_of(store))
    latest: dict[str, dict[str, Any]] = {}
    for change in history.changes(store):  # newest first
        if change.kind != "import" or change.undone_by is not None:
            continue
        for name in change.rows:
            latest.setdefault(name, {"at": change.at, "file": change.file})
    return latest


def dataset_summaries(store: Store) -> pd.DataFrame:
    """One row per stored dataset: dataset, rows, first, last (date range, when it has
    dates), last_import (time, UTC on the lake) and last_file."""
    latest = _last_changes(store)
    rows = []
    for name in DATASETS:
        if not store.has(name):
            continue
        table = store.table(name)
        first = last = None
        date_col = DATE_COLUMNS.get(name)
        if date_col and date_col in table.columns:
            bounds = table.aggregate(
                first=table[date_col].min(), last=table[date_col].max()
            ).to_pandas()
            first, last = bounds["first"].iloc[0], bounds["last"].iloc[0]
        entry = latest.get(name, {})
        rows.append(
            {
                "dataset": name,
                "rows": store.row_count(name),
                "first": None if pd.isna(first) else pd.Timestamp(first),
                "last": None if pd.isna(last) else pd.Timestamp(last),
                "last_import": entry.get("at"),
                "last_file": entry.get("file"),
            }
        )
    return pd.DataFrame(
        rows, columns=["dataset", "rows", "first", "last", "last_import", "last_file"]
    )


def delete_dataset(store: Store, name: str) -> list[str]:
    """Delete a dataset and the ones that depend on it, in one transaction; returns the
    names deleted."""
    names = [n for n in (name, *DEPENDENTS.get(name, ())) if store.has(n)]
    store.drop_tables(names)
    return names
