"""Number and yes/no text → values, for whole columns at once.

Decimal comma and thousands separators are read as people write them: `7,5` and `7.5` are
7.5; `1.234,5`, `1 234,5` and `1,234.5` are 1234.5; a single comma is always a decimal
comma (`1,234` is 1.234). Each distinct text is parsed once, so a score column of a million
rows costs eleven parses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Cell texts that mean "no answer" rather than a bad value.
MISSING_TOKENS: frozenset[str] = frozenset(
    {
        "",
        "na",
        "n/a",
        "n.a.",
        "null",
        "none",
        "nan",
        "-",
        "--",
        "—",
        "–",
        "#n/a",
        "(blank)",
    }
)
YES: frozenset[str] = frozenset({"yes", "y", "ja", "j", "da", "true", "1", "x", "oui", "si"})
NO: frozenset[str] = frozenset({"no", "n", "nei", "nej", "ne", "false", "0", "non"})


@dataclass(frozen=True)
class ParsedNumbers:
    """`values` (float64, NaN unless valid), `missing` (empty or a no-answer token) and
    `invalid` (text present but not a number) for each row."""

    values: np.ndarray
    missing: np.ndarray
    invalid: np.ndarray


def missing_mask(texts: pd.Series) -> np.ndarray:
    """Rows whose text is empty or a no-answer token ("n/a", "-", "null"…)."""
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    clean = pd.Series(uniques, dtype="str").str.strip().str.lower()
    missing_u = clean.isin(MISSING_TOKENS).to_numpy(dtype=bool)
    return (codes < 0) | missing_u[np.maximum(codes, 0)] if len(uniques) else codes < 0


def parse_numbers(texts: pd.Series) -> ParsedNumbers:
    """Numbers from text with a decimal point or comma and optional thousands separators."""
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    clean = pd.Series(uniques, dtype="str").str.strip().str.lower()
    missing_u = clean.isin(MISSING_TOKENS).to_numpy(dtype=bool)
    values_u = _numbers(clean).to_numpy(dtype=np.float64, na_value=np.nan).copy()
    invalid_u = ~missing_u & ~np.isfinite(values_u)
    values_u[invalid_u | missing_u] = np.nan
    return _broadcast(codes, values_u, missing_u, invalid_u)


def parse_yes_no(texts: pd.Series) -> ParsedNumbers:
    """1 for yes (ja, da, true, 1…), 0 for no (nei, nej, ne, false, 0…)."""
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    clean = pd.Series(uniques, dtype="str").str.strip().str.lower()
    missing_u = clean.isin(MISSING_TOKENS - {"-"}).to_numpy(dtype=bool)
    yes, no = clean.isin(YES).to_numpy(dtype=bool), clean.isin(NO).to_numpy(dtype=bool)
    values_u = np.where(yes, 1.0, np.where(no, 0.0, np.nan))
    invalid_u = ~missing_u & ~yes & ~no
    return _broadcast(codes, values_u, missing_u, invalid_u)


def yes_no_share(texts: pd.Series) -> float:
    """Share of the non-missing values that are yes/no words (not digits)."""
    clean = texts.dropna().astype("str").str.strip().str.lower()
    clean = clean[~clean.isin(MISSING_TOKENS)]
    if clean.empty:
        return 0.0
    words = (YES | NO) - {"1", "0"}
    return float(clean.isin(words).mean())


_SPACES = r"[\s\u00a0\u202f']"
_PLAIN = r"[+-]?(?:\d+[.,]?\d*|[.,]\d+)(?:e[+-]?\d+)?(?:\s*%)?"
_DOT_GROUPS = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?(?:\s*%)?"
_COMMA_GROUPS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s*%)?"
_SPACE_GROUPS = r"[+-]?\d{1,3}(?:[\s\u00a0\u202f']\d{3})+(?:[.,]\d+)?(?:\s*%)?"


def _numbers(clean: pd.Series) -> pd.Series:
    """Parse the forms in the module doc; anything else (dates like 31.12.2025, words) is NaN."""
    plain = clean.str.fullmatch(_PLAIN).fillna(False).astype(bool)
    dots = ~plain & clean.str.fullmatch(_DOT_GROUPS).fillna(False).astype(bool)
    commas = ~plain & ~dots & clean.str.fullmatch(_COMMA_GROUPS).fillna(False).astype(bool)
    spaces = (
        ~plain & ~dots & ~commas & clean.str.fullmatch(_SPACE_GROUPS).fillna(False).astype(bool)
    )
    text = clean.where(~dots, clean.str.replace(".", "", regex=False))
    text = text.where(~commas, text.str.replace(",", "", regex=False))
    text = text.where(~spaces, text.str.replace(_SPACES, "", regex=True))
    text = text.str.replace(",", ".", regex=False).str.replace(r"\s*%$", "", regex=True)
    text = text.str.removeprefix("+")
    return pd.to_numeric(text.where(plain | dots | commas | spaces), errors="coerce")


def _broadcast(
    codes: np.ndarray, values_u: np.ndarray, missing_u: np.ndarray, invalid_u: np.ndarray
) -> ParsedNumbers:
    absent = codes < 0
    idx = np.maximum(codes, 0)
    if len(values_u) == 0:
        n = len(codes)
        return ParsedNumbers(np.full(n, np.nan), np.ones(n, dtype=bool), np.zeros(n, dtype=bool))
    values = np.where(absent, np.nan, values_u[idx])
    return ParsedNumbers(values, absent | missing_u[idx], ~absent & invalid_u[idx])
