"""Where the data lives and the honesty thresholds, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "data"
DEFAULT_MIN_N = 10
DEFAULT_LOW_BASE = 30
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_STATEMENT_TIMEOUT = 300


@dataclass(frozen=True)
class Thresholds:
    """min_n: fewer answers → no number shown. low_base: fewer → flagged, no significance test."""

    min_n: int = DEFAULT_MIN_N
    low_base: int = DEFAULT_LOW_BASE

    def __post_init__(self) -> None:
        if self.min_n < 1 or self.low_base < self.min_n:
            raise ValueError(
                f"thresholds need 1 <= min_n <= low_base, got min_n={self.min_n}, "
                f"low_base={self.low_base}"
            )


def data_dir() -> Path:
    """The embedded store's directory: $CX_DATA_DIR or ./data."""
    return Path(os.environ.get("CX_DATA_DIR", DEFAULT_DATA_DIR))


def database_url() -> str | None:
    """A warehouse connection URL ($CX_DATABASE_URL), or None for the embedded DuckDB."""
    url = os.environ.get("CX_DATABASE_URL", "").strip()
    return url or None


def connect_timeout() -> int:
    """Seconds a warehouse host may take to answer a connection ($CX_CONNECT_TIMEOUT,
    default 10; PostgreSQL counts at least 2)."""
    return max(1, _int_env("CX_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT))


def statement_timeout() -> int:
    """Seconds one warehouse query may run before the warehouse cancels it
    ($CX_STATEMENT_TIMEOUT, default 300; 0 = no limit)."""
    return max(0, _int_env("CX_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT))


def thresholds() -> Thresholds:
    """Thresholds from $CX_MIN_N and $CX_LOW_BASE, defaulting to 10 and 30."""
    return Thresholds(
        min_n=_int_env("CX_MIN_N", DEFAULT_MIN_N),
        low_base=_int_env("CX_LOW_BASE", DEFAULT_LOW_BASE),
    )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
