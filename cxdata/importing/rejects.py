"""The reject report as CSV: safe to open in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxdata.importing.names import spreadsheet_safe

REJECT_COLUMNS: tuple[str, ...] = ("row", "column", "value", "reason", "code")


def rejects_csv(rejects: pd.DataFrame) -> bytes:
    """The report as UTF-8 CSV (with BOM, so spreadsheets pick the encoding); any cell that
    a spreadsheet would run as a formula gets a leading '."""
    safe = pd.DataFrame({"row": rejects["row"].astype("int64")})
    for col in REJECT_COLUMNS[1:]:
        text = rejects[col] if col in rejects else pd.Series("", index=rejects.index)
        text = text.astype("str").fillna("")
        codes, uniques = pd.factorize(text)
        safe[col] = pd.array([spreadsheet_safe(u) for u in uniques], dtype="str").take(codes)
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def write_rejects(rejects: pd.DataFrame, path: Path) -> Path:
    """Write the report to `path` (its folder is created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rejects_csv(rejects))
    return path


def reject_summary(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejects counted by column × reason code: column, code, reason (the first of that
    kind), rows (how many rows), first_row; most frequent first."""
    if rejects.empty:
        return pd.DataFrame(columns=["column", "code", "reason", "rows", "first_row"])
    grouped = rejects.groupby(["column", "code"], sort=False, dropna=False)
    out = grouped.agg(
        reason=("reason", "first"), rows=("row", "nunique"), first_row=("row", "min")
    ).reset_index()
    return out.sort_values(["rows", "first_row"], ascending=[False, True]).reset_index(drop=True)
