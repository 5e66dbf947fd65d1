"""Date and time text → timestamps, with the day/month order decided for a whole column.

Accepted: ISO (`2025-12-31`, `2025-12-31T14:05:00Z`, offsets converted to UTC), numeric
day/month/year (`31.12.2025`, `31/12/2025`, `5. 9. 2025`, `31-12-25 14:05`), US month/day/
year (`12/31/2025`), month names in English, Nordic and Slovenian (`19th November 2023`,
`Nov 19, 2023`, `5. maj 2024`) and Unix epoch seconds (or milliseconds).

`05/06/2025` is 5 June day-first and 6 May month-first: the order is decided once for the
column from the values that only fit one order, and the decision is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxdata.importing.names import folded

DATE_ORDERS: tuple[str, ...] = ("auto", "day-first", "month-first")
DAY_FIRST, MONTH_FIRST = "day-first", "month-first"
MIN_YEAR, MAX_YEAR = 1900, 2100

_TIME = (
    r"(?:(?:\s+|t|\s*,\s*|\s+kl\.?\s*)(?P<H>\d{1,2})[:.](?P<M>\d{2})"
    r"(?:[:.](?P<S>\d{2})(?:[.,](?P<f>\d{1,6})\d*)?)?\s*(?P<ampm>[ap]\.?m\.?)?)?"
)
_ISO = (
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:[t ]\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,6})\d*)?)?)?"
    r"\s*(?P<tz>z|utc|[+-]\d{2}:?\d{2})?$"
)
_NUMERIC = (
    r"^(?P<a>\d{1,2})\s*(?P<sep>[./-])\s*(?P<b>\d{1,2})\s*[./-]\s*(?P<y>\d{4}|\d{2})\.?"
    + _TIME
    + "$"
)
_DAY_NAME = (
    r"^(?:\pL{2,}\.?,?\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th|\.)?\s+(?:of\s+)?"
    r"(?P<mon>\pL{3,})\.?,?\s+(?P<y>\d{4})" + _TIME + "$"
)
_NAME_DAY = (
    r"^(?:\pL{2,}\.?,?\s+)?(?P<mon>\pL{3,})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+"
    r"(?P<y>\d{4})" + _TIME + "$"
)
_EPOCH = r"^(?P<e>\d{9,10}|\d{12,13})(?:\.\d+)?$"

# Month by the first three letters of its folded name (English, Nordic, Slovenian).
MONTHS: dict[str, int] = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "mai": 5,
    "maj": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "avg": 8,
    "sep": 9,
    "okt": 10,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "des": 12,
}


@dataclass(frozen=True)
class ParsedDates:
    """Timestamps for a column of text: `values` (datetime64[us], NaT where empty or bad),
    `invalid` (text present but not a valid date), `reasons` (why, per invalid value),
    the day/month `order` used for numeric dates (None when there were none) and a `note`
    saying how that order was chosen."""

    values: np.ndarray
    invalid: np.ndarray
    reasons: np.ndarray
    order: str | None
    note: str


def parse_dates(texts: pd.Series, order: str = "auto") -> ParsedDates:
    """Parse a column of date text; `order` is "auto" (decide from the column), "day-first"
    or "month-first"."""
    if order not in DATE_ORDERS:
        raise ValueError(f"date order must be one of {', '.join(DATE_ORDERS)}, got {order!r}")
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    parsed = _parse_unique(pa.array(np.asarray(uniques, dtype=object), type=pa.string()), order)
    values = np.where(codes >= 0, parsed.values[np.maximum(codes, 0)], np.datetime64("NaT"))
    invalid = (codes >= 0) & parsed.invalid[np.maximum(codes, 0)]
    reasons = np.where(invalid, parsed.reasons[np.maximum(codes, 0)], None)
    return ParsedDates(values.astype("datetime64[us]"), invalid, reasons, parsed.order, parsed.note)


def _parse_unique(raw: pa.Array, order: str) -> ParsedDates:
    n = len(raw)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
    empty = _np_bool(pc.or_kleene(pc.is_null(text), pc.equal(text, "")))
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    reasons = np.full(n, "not a date", dtype=object)
    done = empty.copy()

    iso = pc.extract_regex(text, _ISO)
    hit = _np_bool(pc.is_valid(iso)) & ~done
    if hit.any():
        parts = _ints(iso, ("y", "m", "d", "H", "M", "S", "f"))
        stamp = _assemble(parts, hit)
        offset = _tz_minutes(iso.field("tz"))
        stamp = stamp - offset.astype("timedelta64[m]")
        _settle(values, reasons, hit, stamp, parts["y"])
        done |= hit

    numeric = pc.extract_regex(text, _NUMERIC)
    hit = _np_bool(pc.is_valid(numeric)) & ~done
    chosen, note = None, ""
    if hit.any():
        parts = _ints(numeric, ("a", "b", "y", "H", "M", "S", "f"))
        chosen, note = _decide_order(parts["a"], parts["b"], hit, raw, order)
        day_first = chosen == DAY_FIRST
        parts["d"] = parts["a"] if day_first else parts["b"]
        parts["m"] = parts["b"] if day_first else parts["a"]
        year = parts["y"]
        short = hit & (year < 100)
        year[short] += np.where(year[short] < 70, 2000, 1900)
        _twelve_hour(parts, numeric.field("ampm"))
        _settle(values, reasons, hit, _assemble(parts, hit), parts["y"])
        wrong_order = hit & (parts["m"] > 12) & (parts["d"] <= 12)
        reasons[wrong_order] = f"does not fit the {chosen} order of this column"
        done |= hit

    for pattern in (_DAY_NAME, _NAME_DAY):
        named = pc.extract_regex(text, pattern)
        hit = _np_bool(pc.is_valid(named)) & ~done
        if not hit.any():
            continue
        parts = _ints(named, ("d", "y", "H", "M", "S", "f"))
        names = pd.Series(named.field("mon").fill_null("").to_numpy(zero_copy_only=False))
        lookup = {m: MONTHS.get(folded(m)[:3], -1) for m in names[hit].unique()}
        parts["m"] = np.where(hit, names.map(lookup).fillna(-1).to_numpy(dtype=np.int64), -1)
        _twelve_hour(parts, named.field("ampm"))
        unknown = hit & (parts["m"] < 0)
        reasons[unknown] = "unknown month name"
        ok = hit & ~unknown
        _settle(values, reasons, ok, _assemble(parts, ok), parts["y"])
        done |= hit

    epoch = pc.extract_regex(text, _EPOCH)
    hit = _np_bool(pc.is_valid(epoch)) & ~done
    if hit.any():
        number = np.maximum(_ints(epoch, ("e",))["e"], 0)
        millis = _np_bool(pc.greater_equal(pc.utf8_length(epoch.field("e")), 12))
        micros = np.where(millis, number * 1_000, number * 1_000_000)
        stamp = micros.astype("datetime64[us]")
        _settle(values, reasons, hit, stamp, stamp.astype("datetime64[Y]").astype(int) + 1970)
        done |= hit

    invalid = ~empty & np.isnat(values)
    return ParsedDates(values, invalid, np.where(invalid, reasons, None), chosen, note)


def _decide_order(
    a: np.ndarray, b: np.ndarray, hit: np.ndarray, raw: pa.Array, order: str
) -> tuple[str, str]:
    if order != "auto":
        return order, f"{order} (as set in the mapping)"
    day = hit & (a > 12) & (b <= 12)
    month = hit & (b > 12) & (a <= 12)
    n_day, n_month = int(day.sum()), int(month.sum())

    def example(mask: np.ndarray) -> str:
        return str(raw[int(np.flatnonzero(mask)[0])])

    if n_day and not n_month:
        return DAY_FIRST, f"day-first: {example(day)} only fits day-first"
    if n_month and not n_day:
        return MONTH_FIRST, f"month-first: {example(month)} only fits month-first"
    if n_day or n_month:
        chosen = DAY_FIRST if n_day >= n_month else MONTH_FIRST
        return chosen, (
            f"{chosen}: mixed orders ({n_day} only fit day-first, e.g. "
            f"{example(day)}; {n_month} only month-first, e.g. {example(month)}); "
            "the values that do not fit are rejected"
        )
    return DAY_FIRST, (
        "day-first, assumed: every date fits both orders (set date_order to "
        "month-first if these are US dates)"
    )


def _settle(
    values: np.ndarray,
    reasons: np.ndarray,
    hit: np.ndarray,
    stamp: np.ndarray,
    year: np.ndarray,
) -> None:
    bad = hit & np.isnat(stamp)
    reasons[bad] = "impossible date or time"
    out_of_range = hit & ~bad & ((year < MIN_YEAR) | (year > MAX_YEAR))
    reasons[out_of_range] = f"date outside {MIN_YEAR}–{MAX_YEAR}"
    good = hit & ~bad & ~out_of_range
    values[good] = stamp[good]


def _assemble(parts: dict[str, np.ndarray], hit: np.ndarray) -> np.ndarray:
    """Timestamps from component arrays; NaT where a component is out of range."""
    n = len(hit)
    frac = parts.get("f", np.full(n, -1))
    frame = pd.DataFrame(
        {
            "year": np.where(hit, parts["y"], 2000),
            "month": np.where(hit, parts["m"], 1),
            "day": np.where(hit, parts["d"], 1),
            "hour": np.maximum(parts.get("H", np.zeros(n, dtype=np.int64)), 0),
            "minute": np.maximum(parts.get("M", np.zeros(n, dtype=np.int64)), 0),
            "second": np.maximum(parts.get("S", np.zeros(n, dtype=np.int64)), 0),
            "us": np.maximum(frac, 0),
        }
    )
    bad = (
        (frame["month"] < 1)
        | (frame["month"] > 12)
        | (frame["day"] < 1)
        | (frame["day"] > 31)
        | (frame["hour"] > 23)
        | (frame["minute"] > 59)
        | (frame["second"] > 59)
        | (frame["year"] < 1)
        | (frame["year"] > 9999)
    ).to_numpy()
    frame.loc[bad, ["year", "month", "day"]] = (2000, 1, 1)
    stamps = pd.to_datetime(frame, errors="coerce").to_numpy(dtype="datetime64[us]").copy()
    stamps[bad | ~hit] = np.datetime64("NaT")
    return stamps


def _ints(groups: pa.StructArray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in names:
        col = groups.field(name)
        if name == "f":  # fraction of a second → microseconds
            col = pc.utf8_rpad(pc.if_else(pc.equal(col, ""), None, col), 6, "0")
        col = pc.if_else(pc.equal(col, ""), None, col)
        ints = pc.cast(col, pa.int64())
        out[name] = ints.fill_null(-1).to_numpy(zero_copy_only=False).copy()
    return out


def _twelve_hour(parts: dict[str, np.ndarray], ampm: pa.Array) -> None:
    marker = ampm.fill_null("").to_numpy(zero_copy_only=False).astype(str)
    pm = np.char.startswith(marker, "p")
    am = np.char.startswith(marker, "a")
    hour = parts["H"]
    parts["H"] = np.where(
        pm & (hour >= 1) & (hour < 12), hour + 12, np.where(am & (hour == 12), 0, hour)
    )
    parts["H"] = np.where((pm | am) & (hour > 12), 99, parts["H"])


def _tz_minutes(tz: pa.Array) -> np.ndarray:
    text = tz.fill_null("").to_numpy(zero_copy_only=False).astype(str)
    out = np.zeros(len(text), dtype=np.int64)
    signed = np.char.startswith(text, "+") | np.char.startswith(text, "-")
    for i in np.flatnonzero(signed):
        digits = text[i][1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4])
        out[i] = minutes if text[i][0] == "+" else -minutes
    return out


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
