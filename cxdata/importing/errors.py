"""Errors of the import, each one clear line naming the file, and the row or column."""

from __future__ import annotations

from cxdata.errors import CxError


class UnreadableFile(CxError):
    """The file cannot be read as CSV, Excel or Parquet (missing, empty, binary, broken)."""


class MappingError(CxError):
    """The column mapping cannot be applied to this file (unknown column, mixed scales…)."""


class NothingToImport(CxError):
    """No row survived validation, so nothing is written (the stored data is unchanged)."""


class DateOrderUndecided(MappingError):
    """Every numeric date of the date column fits both day-first and month-first and nothing
    else decides: the user must choose (--date-order dmy|mdy, or the Data page's choice)."""
