"""The mapping as an editable table (the Data page's mapping step): one row per source
column with its question text, sample values, the scale seen in its values, the suggestion
with its reason and warnings; the editable cells turn back into a Mapping.

"Maps to" is one of `target_options` (a field, `rating`, `text`, `segment`, "leave out"):
a segment's name and an extra text's name are in the `name` cell. A row whose target, scale
or touchpoint differs from the suggestion loses the suggestion's warning (it was about the
suggestion) and gets the warning of the choice made, if any."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np
import pandas as pd

from cxdata import schema
from cxdata.importing.columns import profile_column, seen_in_values
from cxdata.importing.errors import MappingError
from cxdata.importing.mapping import FIELDS, RATING, SPLIT, TEXT, VALUE, ColumnMap, Mapping
from cxdata.importing.names import display_name, identifier
from cxdata.importing.readers import Source
from cxdata.importing.suggest import NPS_ON_ONE_TO_TEN

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
LEAVE_OUT = "leave out"
SEGMENT = "segment"
ROLES = (RATING, TEXT, SPLIT, VALUE)


def target_options(mapping: Mapping) -> list[str]:
    """The choices of "Maps to" for `mapping`'s dataset: leave out, its fields, `rating` and
    `text` (responses), `segment`, and `split` only when the suggestion made one (its
    `split_by` column is not editable in the table)."""
    extra = [RATING, TEXT] if mapping.dataset == schema.RESPONSES else []
    split = [SPLIT] if any(c.to == SPLIT for c in mapping.columns) else []
    return [LEAVE_OUT, *FIELDS[mapping.dataset], *extra, SEGMENT, *split]


def _is_segment(col: ColumnMap, dataset: str) -> bool:
    return col.to is not None and col.to not in (*FIELDS[dataset], *ROLES)


def with_edits(table: pd.DataFrame, edited_rows: dict[Any, dict[str, Any]]) -> pd.DataFrame:
    """`table` with a data editor's `edited_rows` ({row position: {column: value}})
    applied: what the editor will return, known before it is drawn."""
    out = table.copy()
    for row, changes in (edited_rows or {}).items():
        for column, value in changes.items():
            if column in out.columns and 0 <= int(row) < len(out):
                out.iat[int(row), out.columns.get_loc(column)] = value
    return out


def mapping_table(mapping: Mapping, source: Source | None = None) -> pd.DataFrame:
    """One row per source column (see TABLE_COLUMNS): `labels` as "Good=5; Bad=1",
    `missing` as "Ne vem; -1", `scale` as "1-5"."""
    rows = []
    for col in mapping.columns:
        segment = _is_segment(col, mapping.dataset)
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
                "to": SEGMENT if segment else (col.to or LEAVE_OUT),
                "touchpoint": col.touchpoint or "",
                "name": col.to if segment else (col.name or ""),
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
        suggested = copy.copy(col)
        try:
            _apply_row(col, row)
        except MappingError as exc:
            problems.append(str(exc))
        if _chosen_by_hand(col, suggested):
            col.warning = choice_warning(col)
            col.note = _hand_note(suggested)
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


def _chosen_by_hand(col: ColumnMap, suggested: ColumnMap) -> bool:
    return (col.to, col.scale, col.touchpoint) != (
        suggested.to,
        suggested.scale,
        suggested.touchpoint,
    )


def choice_warning(col: ColumnMap) -> str:
    """The warning a target chosen by hand deserves (the suggestion's warnings were about
    the suggestion): NPS asked on 1–10 is not comparable with 0–10 NPS."""
    if col.to == "nps" and col.scale == (1, 10) and not col.rescale:
        return NPS_ON_ONE_TO_TEN
    return ""


def _hand_note(suggested: ColumnMap) -> str:
    was = suggested.to or LEAVE_OUT
    why = f": {suggested.note}" if suggested.note else ""
    return f"changed here; the suggestion was {was}{why}"


def _target(row: dict[str, Any], source: str) -> tuple[str | None, str | None]:
    """(the mapping's `to`, the extra text's name) from the "Maps to" and name cells: a
    segment is stored under its name (the column's own name when the cell is empty)."""
    to, name = _cell(row, "to") or None, _cell(row, "name") or None
    if to in (None, LEAVE_OUT):
        return None, None
    if to == SEGMENT:
        return name or identifier(source), None
    return to, name


def _apply_row(col: ColumnMap, row: dict[str, Any]) -> None:
    where = f"column {col.source!r}"
    to, name = _target(row, col.source)
    if to != col.to:
        col.split_by, col.split = None, None
    col.to = to
    col.touchpoint = _cell(row, "touchpoint") or None
    if to == RATING and col.touchpoint is None:  # a label only: the column's own name
        col.touchpoint = display_name(col.source)[:80]
    col.name = name
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
