"""The mapping as an editable table (the Data page's mapping step): one row per source
column with its question text, sample values, the scale seen in its values, the suggestion
with its reason and warnings; the editable cells turn back into a Mapping."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np
import pandas as pd

from cxdata.importing.columns import profile_column, seen_in_values
from cxdata.importing.errors import MappingError
from cxdata.importing.mapping import ColumnMap, Mapping
from cxdata.importing.readers import Source

TABLE_COLUMNS: tuple[str, ...] = (
    "column",
    "question",
    "examples",
    "seen",
    "to",
    "touchpoint",
    "name",
    "metric",
    "scale",
    "labels",
    "missing",
    "rescale",
    "hash",
    "note",
    "warning",
)
EDITABLE: tuple[str, ...] = (
    "to", "touchpoint", "name", "metric", "scale", "labels", "missing", "rescale", "hash"
)  # fmt: skip


def mapping_table(mapping: Mapping, source: Source | None = None) -> pd.DataFrame:
    """One row per source column (see TABLE_COLUMNS): `labels` as "Good=5; Bad=1",
    `missing` as "Ne vem; -1", `scale` as "1-5"."""
    rows = []
    for col in mapping.columns:
        examples, seen = "", ""
        if source is not None and col.source in source.frame.columns:
            values = source.frame[col.source].dropna().astype("str")
            examples = " · ".join(v[:40] for v in pd.unique(values)[:3])
            seen = col.seen or seen_in_values(profile_column(source.frame[col.source]))
        rows.append(
            {
                "column": col.source,
                "question": col.question,
                "examples": examples,
                "seen": seen,
                "to": col.to or "",
                "touchpoint": col.touchpoint or "",
                "name": col.name or "",
                "metric": col.metric or "",
                "scale": f"{col.scale[0]}-{col.scale[1]}" if col.scale else "",
                "labels": "; ".join(f"{k}={v:g}" for k, v in (col.labels or {}).items()),
                "missing": "; ".join(col.missing),
                "rescale": col.rescale,
                "hash": col.hash,
                "note": col.note,
                "warning": col.warning,
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def mapping_from_table(
    table: pd.DataFrame, base: Mapping, *, date_order: str | None = None
) -> Mapping:
    """The mapping an edited `mapping_table` describes: `base` (the suggestion: its
    platform, id scope, splits, time zones…) with the editable cells of each row applied;
    an empty target leaves the column out. Raises one MappingError listing every bad cell."""
    mapping = copy.deepcopy(base)
    if date_order is not None:
        mapping.date_order = date_order
    problems: list[str] = []
    by_source = {c.source: c for c in mapping.columns}
    for row in table.to_dict("records"):
        source = str(row["column"])
        col = by_source.get(source) or ColumnMap(source, None)
        try:
            _apply_row(col, row)
        except MappingError as exc:
            problems.append(str(exc))
        by_source[source] = col
    if problems:
        raise MappingError("\n".join(problems))
    mapping.columns = [by_source[str(r["column"])] for r in table.to_dict("records")]
    return mapping


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _apply_row(col: ColumnMap, row: dict[str, Any]) -> None:
    where = f"column {col.source!r}"
    to = _cell(row, "to") or None
    if to != col.to:
        col.split_by, col.split = None, None
    col.to = to
    col.touchpoint = _cell(row, "touchpoint") or None
    col.name = _cell(row, "name") or None
    col.metric = _cell(row, "metric") or None
    col.rescale = bool(row.get("rescale"))
    col.hash = bool(row.get("hash"))
    col.scale = None
    if _cell(row, "scale"):
        found = re.fullmatch(r"(-?\d+)\s*[-–]\s*(-?\d+)", _cell(row, "scale"))
        if not found or int(found.group(1)) >= int(found.group(2)):
            raise MappingError(f"{where}: scale must look like 1-5, got {_cell(row, 'scale')!r}")
        col.scale = (int(found.group(1)), int(found.group(2)))
    col.labels = _labels(_cell(row, "labels"), where) or None
    col.missing = tuple(m.strip() for m in _cell(row, "missing").split(";") if m.strip())


def _labels(text: str, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        label, sep, value = part.rpartition("=")
        try:
            out[label.strip()] = float(value.replace(",", "."))
        except ValueError:
            sep = ""
        if not sep or not label.strip():
            raise MappingError(f"{where}: labels must look like 'Very satisfied=5; Satisfied=4'")
    return out
