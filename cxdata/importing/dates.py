"""Date and time text → naive UTC timestamps, with the day/month order decided per column.

Accepted (letter case and extra spaces do not matter):
- ISO 8601 and kin: `2024-03-14`, `2024-03-14T10:22:00.5Z`, `2024-03-14 10:22+01:00`,
  `2024/03/01 8:00:00 AM GMT+1` (Google Forms);
- numeric dates: `14.03.2024 10:22`, `14. 3. 2024`, `14.3.2024 klo 10.22`, `14-03-24`,
  `03/14/2024 10:22:00 AM` (SurveyMonkey);
- month names in English, Norwegian, Danish, Swedish, Slovenian, German and Finnish (taken
  from dateparser's locale data), with or without a weekday: `14-Mar-2024`,
  `Mar 14, 2024 3:05 PM`, `March 14th 2024`, `Thu, 14 Mar 2024 10:22:00 +0100` (RFC 2822),
  `Montag, 2. Januar 2023 um 08:00:00 MEZ`, `torsdag den 14. marts 2024`,
  `14. maaliskuuta 2024 klo 10.22`;
- Unix epochs in seconds or milliseconds; Excel serial day numbers (`45366.4375`) of
  1990–2100.
Times are 24-hour or 12-hour (`PM`, `p.m.`), after a space, `T`, `,`, `at`, `um`, `kl.`,
`klo` or `ob`; a zone (`Z`, `UTC`, `+01:00`, `+0100`, `GMT-5`, `CET`, `MESZ`, `EST`, …)
converts to UTC, a time without one is kept as written. Other text that names a month is
handed to dateparser, once per distinct date part, while it keeps finding dates.

`05/06/2025` is 5 June day-first and 6 May month-first. The order is decided once for the
column: from the values that only fit one order, then the caller's hint, then AM/PM times
(US style); `dd.mm.yyyy` dates are day-first by convention. When nothing decides, the result
says so (`undecided`) and those dates stay empty: a wrong date is worse than none.

Speed: each distinct text is parsed once, by vectorised RE2 regexes (pyarrow); a distinct
date part (the text before the time) once more. A million distinct timestamps take seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DAY_FIRST, MONTH_FIRST = "day-first", "month-first"
# What a UI offers; DATE_ORDERS adds the older spellings that saved mappings still use.
DATE_ORDER_CHOICES: tuple[str, ...] = ("auto", "dmy", "mdy")
DATE_ORDERS: tuple[str, ...] = (*DATE_ORDER_CHOICES, DAY_FIRST, MONTH_FIRST)
_ORDER_NAMES = {
    "auto": "auto",
    "dmy": DAY_FIRST,
    "day-first": DAY_FIRST,
    "dayfirst": DAY_FIRST,
    "mdy": MONTH_FIRST,
    "month-first": MONTH_FIRST,
    "monthfirst": MONTH_FIRST,
}
MIN_YEAR, MAX_YEAR = 1900, 2100
EXCEL_YEARS = (1990, 2100)
LANGUAGES: tuple[str, ...] = ("en", "de", "nb", "nn", "da", "sv", "fi", "sl")

_NAT = np.datetime64("NaT", "us")
_MAX_CHARS = 80  # longer texts are never dates: keeps free-text columns cheap to profile
_FALLBACK_MAX = 2_000  # dateparser takes ~2 ms a call: at most ~4 s for one column
_FALLBACK_PROBE = 20  # ... and it stops once a quarter of its tries fail after these many

# --- the regexes (RE2, applied to lowercased text whose spaces are single ASCII spaces) ----

_CONNECT = r"(?:t|(?:\s?[,@]\s?|\s)(?:(?:um|at|klo|kello|kl\.?|ob|à|-|–)\s?)?)"
# ASCII letters only: a Unicode class here makes RE2 several times slower on every value.
_ZONE = r"z|[+-]\d{1,2}(?::?\d{2})?|(?:utc|gmt|ut)(?:\s?[+-]\s?\d{1,2}(?::?\d{2})?)?|[a-z]{2,5}"
_TIME = (
    r"(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?:\s?(?:uhr|h))?"
    r"(?:\s?(?P<ampm>[ap])\.?\s?m\.?)?"
    rf"(?:\s?(?P<tz>{_ZONE}))?"
    r"(?:\s?\([^)]*\))?"  # "(Central European Standard Time)" after a JavaScript date
)
# The time at the end of a text; the date part is what is left. (Searching for this tail and
# then removing it is ~3x faster in RE2 than one regex capturing both halves.)
_TAIL = rf"{_CONNECT}{_TIME}$"
_ODD_SPACE = r"[\t\n\r\f\v\x{a0}\x{2000}-\x{200b}\x{202f}\x{205f}\x{3000}]|  "

_YMD = r"^(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\.?$"
_NUMERIC = r"^(?P<a>\d{1,2})(?P<sep>\s?[./-]\s?)(?P<b>\d{1,2})\s?[./-]\s?(?P<y>\d{4}|\d{2})\.?$"
_WEEKDAY = r"(?:(?P<wd>\pL+)\.?,?\s)?"
_DAY_MONTH = (
    _WEEKDAY + r"(?:(?:den|der|the)\s)?(?P<d>\d{1,2})(?P<dot>st|nd|rd|th|\.)?"
    r"(?P<dash>\s?of\s|\s|-|/)?(?P<mon>\pL+)\.?(?:,?\s?|-|/)(?P<y>\d{4}|\d{2})\.?"
)
_MONTH_DAY = _WEEKDAY + r"(?P<mon>\pL+)\.?\s?(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,\s?|\s)(?P<y>\d{4})"
_EPOCH = r"^(?P<e>\d{9,10}|\d{12,13})(?:\.(?P<f>\d{1,6})\d*)?$"
_SERIAL = r"^(?P<x>\d{5})(?:[.,](?P<f>\d{1,12})\d*)?$"
# Text dateparser may see: a word, a digit and a year, and no run of three numbers (whose
# day/month order dateparser would guess on its own).
_WORDY = r"\pL{3}"
_YEARISH = r"(?:^|\D)\d{4}(?:\D|$)"
_THREE_NUMBERS = r"(?:^|\D)\d{1,2}[^\pL\d]+\d{1,2}[^\pL\d]+\d{2,4}(?:\D|$)"

# Zone abbreviations → minutes east of UTC. CST is US Central (the US zones are the ones
# exports use); IST is left out: India, Ireland and Israel all write it.
ZONES: dict[str, int] = {
    "z": 0,
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "wet": 0,
    "west": 60,
    "bst": 60,
    "cet": 60,
    "mez": 60,
    "cest": 120,
    "mesz": 120,
    "eet": 120,
    "eest": 180,
    "msk": 180,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "akst": -540,
    "akdt": -480,
    "hst": -600,
}
_OFFSET = re.compile(r"(?:utc|gmt|ut)?\s?([+-])\s?(\d{1,2})(?::?(\d{2}))?")

# Month names dateparser's locales lack: Slovenian genitives ("14. marca 2024" is how dates
# are written) and the English "Sept".
_EXTRA_MONTHS: dict[str, int] = {
    "januarja": 1,
    "februarja": 2,
    "marca": 3,
    "aprila": 4,
    "maja": 5,
    "junija": 6,
    "julija": 7,
    "avgusta": 8,
    "septembra": 9,
    "oktobra": 10,
    "novembra": 11,
    "decembra": 12,
    "sept": 9,
}
_NOT_WEEKDAYS = frozenset({"den", "the", "on", "am", "le"})  # words before a day number
_MONTH_KEYS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_WEEKDAY_KEYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Date-part families (0: none)
_YMD_F, _NUMERIC_F, _NAMED_F, _EPOCH_F, _SERIAL_F, _FALLBACK_F = range(1, 7)


@dataclass(frozen=True)
class ParsedDates:
    """Timestamps for a column of text, one entry per input row.

    - `values`: datetime64[us], naive UTC; NaT where empty, invalid or ambiguous.
    - `invalid`: bool, text present but not a valid date.
    - `reasons`: object, why (a str) where invalid or ambiguous, else None.
    - `order`: DAY_FIRST or MONTH_FIRST, the order used for numeric dates (None when there
      were none, or it is undecided); `note` says how it was chosen, or why it could not be.
    - `undecided`: numeric dates fit both orders and nothing decided: those are left NaT
      (and flagged in `ambiguous`, not `invalid`); ask for the order and parse again.
    - `kind`: the format(s) found, e.g. "MM/DD/YYYY hh:mm:ss AM", "ISO 8601",
      "Excel serial", "DD.MM.YYYY HH:MM (90%), D. M. YYYY (10%)"; "" when nothing parsed.
    - `ambiguous`: bool, the dates left NaT because the order is undecided.
    - `zoned`: bool, the text carried its own zone or offset, or is a Unix epoch: already
      UTC, so a local time zone the caller knows for the column must not apply to it.
    """

    values: np.ndarray
    invalid: np.ndarray
    reasons: np.ndarray
    order: str | None
    note: str
    undecided: bool = False
    kind: str = ""
    ambiguous: np.ndarray | None = None
    zoned: np.ndarray | None = None


def normalise_order(name: str) -> str:
    """The canonical day/month order for `name`: "auto", DAY_FIRST ("day-first") or
    MONTH_FIRST ("month-first"). Accepts auto, dmy, mdy, day-first and month-first in any
    letter case (`_` for `-` too). Raises ValueError listing the allowed names otherwise."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in _ORDER_NAMES:
        raise ValueError(
            f"date order must be one of auto, dmy, mdy (or day-first, month-first), got {name!r}"
        )
    return _ORDER_NAMES[key]


def parse_dates(texts: pd.Series, order: str = "auto", *, hint: str | None = None) -> ParsedDates:
    """Parse a column of date text (n rows, str or object) into ParsedDates whose arrays have
    n entries; `values` are datetime64[us], naive UTC (zones and offsets converted).

    `order` ("auto", "dmy"/"day-first", "mdy"/"month-first") is the day/month order of every
    numeric date; "auto" decides it from the column (dd.mm.yyyy: day-first by convention).
    `hint` ("dmy"/"mdy" or a synonym; None or "auto" for none) is the caller's evidence for
    "auto", e.g. a platform known to export US dates; values that only fit one order
    outweigh it. When nothing decides, `undecided` is set and the ambiguous dates are NaT.
    Raises ValueError for an unknown order or hint name; never for bad values: they come
    back invalid with a reason.
    """
    chosen = normalise_order(order)
    hinted = None if hint is None else normalise_order(hint)
    codes, uniques = _factorize(texts)
    n = len(codes)
    if len(uniques) == 0:
        none = np.zeros(n, dtype=bool)
        empty = np.full(n, _NAT)
        reasons = np.full(n, None, dtype=object)
        return ParsedDates(empty, none, reasons, None, "", False, "", none, none.copy())
    present = codes >= 0
    weights = np.bincount(codes[present], minlength=len(uniques))
    one = _parse_unique(uniques, chosen, None if hinted == "auto" else hinted, weights)
    at = np.maximum(codes, 0)
    values = np.where(present, one.values[at], _NAT)
    invalid = present & one.invalid[at]
    ambiguous = present & one.ambiguous[at]
    reasons = np.where(invalid | ambiguous, one.reasons[at], None)
    return ParsedDates(
        values.astype("datetime64[us]"),
        invalid,
        reasons,
        one.order,
        one.note,
        one.undecided,
        one.kind,
        ambiguous,
        present & one.zoned[at],
    )


@dataclass
class _Unique:
    values: np.ndarray
    invalid: np.ndarray
    reasons: np.ndarray
    ambiguous: np.ndarray
    order: str | None
    note: str
    undecided: bool
    kind: str
    zoned: np.ndarray


def _factorize(texts: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes (int64, -1 for missing) into the distinct texts (a pyarrow string array)."""
    try:
        strings = pa.array(texts, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers or datetimes in an object column
        codes, uniques = pd.factorize(texts, use_na_sentinel=True)
        return codes, pa.array([str(v) for v in uniques], type=pa.string())
    encoded = pc.dictionary_encode(strings)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary


def _parse_unique(raw: pa.Array, order: str, hint: str | None, weights: np.ndarray) -> _Unique:
    """Parse distinct texts; `weights` are their row counts (for the `kind` shares)."""
    n = len(raw)
    text = pc.utf8_lower(raw)
    if pc.any(pc.match_substring_regex(text, _ODD_SPACE)).as_py():  # rare: skip the cost
        text = pc.replace_substring_regex(text, r"[\s\pZ]+", " ")
    text = pc.utf8_trim(text, " ")
    empty = _np_bool(pc.or_kleene(pc.is_null(text), pc.equal(text, "")))
    too_long = _np_bool(pc.greater(pc.utf8_length(text), _MAX_CHARS))
    text = pc.if_else(pa.array(empty | too_long), pa.scalar(None, pa.string()), text)

    time = _Times(pc.extract_regex(text, _TAIL))
    encoded = pc.dictionary_encode(pc.replace_substring_regex(text, _TAIL, "", max_replacements=1))
    date_of = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    has_date = date_of >= 0
    at = np.maximum(date_of, 0)
    part_weights = np.bincount(
        date_of[has_date], weights=weights[has_date], minlength=len(encoded.dictionary)
    )
    parts = _DateParts(encoded.dictionary, part_weights)

    # Order evidence from whole values: AM/PM next to a numeric d/m/y date.
    slash_parts = (parts.family == _NUMERIC_F) & ~parts.dot
    twelve_hour = has_date & slash_parts[at] & time.twelve_hour

    def example(part_mask: np.ndarray, k: int = 1) -> str:
        """Up to k texts (as written) whose date part is in `part_mask`."""
        values = [int(np.flatnonzero(date_of == p)[0]) for p in np.flatnonzero(part_mask)[:k]]
        return ", ".join(raw[i].as_py().strip() for i in values)

    ampm_example = raw[int(np.argmax(twelve_hour))].as_py().strip() if twelve_hour.any() else None
    decision = parts.decide_order(order, hint, ampm_example, example)

    stamp = parts.stamp[at] + time.micros.astype("timedelta64[us]")
    stamp = stamp - time.offset.astype("timedelta64[m]")
    reasons = np.full(n, "not a date", dtype=object)
    reasons[has_date] = parts.reason[date_of[has_date]]
    time_reason = time.reason
    own_time = parts.own_time[at] & time.present
    time_reason[own_time] = "not a date"  # an epoch or serial followed by a time
    bad_time = has_date & ~np.isnat(stamp) & np.not_equal(time_reason, None)
    reasons[bad_time] = time_reason[bad_time]
    stamp[bad_time] = _NAT
    year = stamp.astype("datetime64[Y]").astype(np.int64) + 1970
    outside = ~np.isnat(stamp) & ((year < MIN_YEAR) | (year > MAX_YEAR))
    reasons[outside] = f"date outside {MIN_YEAR}–{MAX_YEAR}"
    stamp[outside | ~has_date] = _NAT
    ambiguous = has_date & parts.ambiguous[at] & ~empty
    reasons[too_long & ~empty] = "not a date (too long)"
    invalid = ~empty & np.isnat(stamp) & ~ambiguous
    reasons[~(invalid | ambiguous)] = None

    counted = has_date & (~np.isnat(stamp) | ambiguous)
    label_codes, labels = parts.label_codes()
    kind = _kind(label_codes[at] * 32 + time.code, counted, weights, labels)
    note = "; ".join(s for s in (decision.note, parts.fallback_note) if s)
    family = parts.family[at]
    zoned = has_date & ~np.isnat(stamp) & (((time.code & 8) > 0) | (family == _EPOCH_F))
    return _Unique(
        stamp, invalid, reasons, ambiguous, decision.order, note, decision.undecided, kind, zoned
    )


# --- times ----------------------------------------------------------------------------------


class _Times:
    """Time of day (µs), zone offset (minutes east) and problems, per distinct text."""

    def __init__(self, split: pa.StructArray) -> None:
        parts = _ints(split, ("H", "M", "S", "f"))
        hour, minute, second, micro = parts["H"], parts["M"], parts["S"], parts["f"]
        self.present = hour >= 0
        marker = pc.utf8_slice_codeunits(pc.struct_field(split, "ampm").fill_null(""), 0, 1)
        pm = _np_bool(pc.equal(marker, "p"))
        am = _np_bool(pc.equal(marker, "a"))
        self.twelve_hour = (am | pm) & self.present
        bad_twelve = self.twelve_hour & ((hour > 12) | (pm & (hour == 0)))
        hour = np.where(pm & (hour < 12), hour + 12, np.where(am & (hour == 12), 0, hour))
        bad = self.present & ((hour > 23) | (minute > 59) | (second > 59))
        self.reason = np.full(len(hour), None, dtype=object)
        self.reason[bad | bad_twelve] = "impossible date or time"
        seconds = (np.maximum(hour, 0) * 60 + np.maximum(minute, 0)) * 60 + np.maximum(second, 0)
        self.micros = np.where(self.present & ~bad, seconds * 1_000_000 + np.maximum(micro, 0), 0)

        zones = pc.dictionary_encode(pc.struct_field(split, "tz").fill_null(""))
        names = zones.dictionary.to_pylist()
        minutes = [_zone_minutes(z) for z in names]
        known = np.array([m is not None for m in minutes], dtype=bool)
        which = zones.indices.to_numpy(zero_copy_only=False)
        self.offset = np.array([m or 0 for m in minutes], dtype=np.int64)[which]
        unknown = np.array([f"unknown time zone {z.upper()!r}" for z in names], dtype=object)
        self.reason = np.where(known[which], self.reason, unknown[which])
        zoned = np.array([z != "" for z in names], dtype=bool)[which]
        self.code = (
            self.present * 1
            + (second >= 0) * 2
            + self.twelve_hour * 4
            + zoned * 8
            + (micro >= 0) * 16
        ).astype(np.int64)


def _zone_minutes(zone: str) -> int | None:
    """Minutes east of UTC for a zone text ("" → 0); None when unknown or out of range."""
    if zone in ZONES or zone == "":
        return ZONES.get(zone, 0)
    match = _OFFSET.fullmatch(zone)
    if not match:
        return None
    hours, minutes = int(match[2]), int(match[3] or 0)
    if hours > 14 or minutes > 59:
        return None
    return (hours * 60 + minutes) * (1 if match[1] == "+" else -1)


# --- date parts -----------------------------------------------------------------------------


@dataclass
class _Decision:
    order: str | None
    note: str
    undecided: bool


class _DateParts:
    """The distinct date parts of a column, parsed: `stamp` (datetime64[us], midnight unless
    the part carries its own time), `reason`, `family`, `label` (its format) and, for numeric
    d/m/y parts, the two leading numbers until `decide_order` settles them."""

    def __init__(self, parts: pa.Array, weights: np.ndarray) -> None:
        n = len(parts)
        self.parts = parts
        self.stamp = np.full(n, _NAT)
        self.reason = np.full(n, "not a date", dtype=object)
        self.family = np.zeros(n, dtype=np.int8)
        self.own_time = np.zeros(n, dtype=bool)
        self.ambiguous = np.zeros(n, dtype=bool)
        self.dot = np.zeros(n, dtype=bool)
        self.label = np.full(n, None, dtype=object)
        self.fallback_note = ""
        self._left = np.arange(n)
        self._numeric: dict[str, np.ndarray] = {}

        self._ymd()
        self._numeric_dates()
        self._named()
        self._epochs()
        self._serials()
        self._fallback(weights)

    # Each step takes the parts its regex matches out of `_left`.
    def _match(self, pattern: str) -> tuple[np.ndarray, pa.StructArray]:
        left = self._left
        found = pc.extract_regex(self.parts.take(pa.array(left)), pattern)
        hit = _np_bool(pc.is_valid(found))
        self._left = left[~hit]
        return left[hit], found.filter(pa.array(hit))

    def _ymd(self) -> None:
        idx, groups = self._match(_YMD)
        if not len(idx):
            return
        p = _ints(groups, ("y", "m", "d"))
        self._settle(idx, _days(p["y"], p["m"], p["d"]), _YMD_F)
        sep = _strings(groups, "sep")
        self.label[idx] = np.where(
            sep == "-",
            "ISO 8601",
            np.char.add(np.char.add(np.char.add("YYYY", sep), np.char.add("MM", sep)), "DD"),
        )

    def _numeric_dates(self) -> None:
        idx, groups = self._match(_NUMERIC)
        if not len(idx):
            return
        p = _ints(groups, ("a", "b", "y"))
        year = p["y"]
        # Two-digit years: 00–69 → 2000s, 70–99 → 1900s (as strptime's %y).
        short = _np_bool(pc.equal(pc.utf8_length(pc.struct_field(groups, "y")), 2))
        year = np.where(short, np.where(year < 70, year + 2000, year + 1900), year)
        sep = _strings(groups, "sep")
        self.family[idx] = _NUMERIC_F
        self.dot[idx] = np.char.find(sep, ".") >= 0
        self._numeric = {"idx": idx, "a": p["a"], "b": p["b"], "y": year, "sep": sep}
        self._numeric["short"] = short

    def _named(self) -> None:
        """Parts with a month name. Those with an unknown month or weekday name are left
        for dateparser."""
        unknown = []
        for pattern, month_first in ((_DAY_MONTH, False), (_MONTH_DAY, True)):
            idx, groups = self._match(f"^{pattern}$")
            if not len(idx):
                continue
            months, weekdays = _name_tables()
            p = _ints(groups, ("d", "y"))
            mon = pd.Series(_strings(groups, "mon"))
            wd = pd.Series(_strings(groups, "wd"))
            month = mon.map(months).fillna(-1).to_numpy(dtype=np.int64)
            wd = wd.where(~wd.isin(_NOT_WEEKDAYS), "")
            weekday = wd.map(weekdays).fillna(-1).to_numpy(dtype=np.int64)
            named_wd = (wd != "").to_numpy()
            ok = (month > 0) & (~named_wd | (weekday >= 0))
            unknown.append(idx[~ok])
            self.reason[idx[~ok]] = np.where(
                month[~ok] > 0, "unknown weekday name", "unknown month name"
            )
            idx, p, month, weekday, named_wd = (
                idx[ok],
                {k: v[ok] for k, v in p.items()},
                month[ok],
                weekday[ok],
                named_wd[ok],
            )
            year = np.where(p["y"] < 100, p["y"] + np.where(p["y"] < 70, 2000, 1900), p["y"])
            days = _days(year, month, p["d"])
            actual = (days.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01: Thu
            wrong_day = named_wd & ~np.isnat(days) & (actual != weekday)
            self._settle(idx[~wrong_day], days[~wrong_day], _NAMED_F)
            self.family[idx[wrong_day]] = _NAMED_F
            self.reason[idx[wrong_day]] = "the weekday does not match the date"
            if month_first:
                base = "Month D, YYYY"
            else:
                dash = _strings(groups, "dash")[ok]
                dot = _strings(groups, "dot")[ok]
                base = np.where(
                    dash == "-",
                    "DD-Mon-YYYY",
                    np.where(dot == ".", "D. Month YYYY", "D Month YYYY"),
                )
            self.label[idx] = np.where(named_wd, np.char.add("Weekday, ", base), base)
        self._left = np.concatenate([self._left, *unknown])

    def _epochs(self) -> None:
        idx, groups = self._match(_EPOCH)
        if not len(idx):
            return
        p = _ints(groups, ("e",))
        millis = _np_bool(pc.greater_equal(pc.utf8_length(pc.struct_field(groups, "e")), 12))
        micro = np.where(millis, p["e"] * 1_000, p["e"] * 1_000_000)
        fraction = _fraction(groups, "f")  # of the unit: seconds or milliseconds
        micro = micro + np.round(fraction * np.where(millis, 1_000, 1_000_000)).astype(np.int64)
        self._settle(idx, micro.astype("datetime64[us]"), _EPOCH_F, own_time=True)
        self.label[idx] = np.where(millis, "epoch milliseconds", "epoch seconds")

    def _serials(self) -> None:
        idx, groups = self._match(_SERIAL)
        if not len(idx):
            return
        serial = _ints(groups, ("x",))["x"]
        # The 1900 date system counts from 1899-12-30 (for serials after its phantom
        # 29 Feb 1900); a day's fraction is its time, rounded to the millisecond.
        day = np.datetime64("1899-12-30", "D") + serial.astype("timedelta64[D]")
        millis = np.round(_fraction(groups, "f") * 86_400_000).astype(np.int64)
        stamp = day.astype("datetime64[us]") + (millis * 1000).astype("timedelta64[us]")
        year = day.astype("datetime64[Y]").astype(np.int64) + 1970
        plausible = (year >= EXCEL_YEARS[0]) & (year <= EXCEL_YEARS[1])
        self._settle(idx[plausible], stamp[plausible], _SERIAL_F, own_time=True)
        self.label[idx[plausible]] = "Excel serial"
        self.reason[idx[~plausible]] = (
            f"not a date (outside the Excel serial dates of {EXCEL_YEARS[0]}–{EXCEL_YEARS[1]})"
        )

    def _fallback(self, weights: np.ndarray) -> None:
        """dateparser for the parts left that look like dates, most frequent first."""
        left = self._left
        if not len(left):
            return
        sub = self.parts.take(pa.array(left))
        wordy = _np_bool(pc.match_substring_regex(sub, _WORDY))
        likely = (
            wordy
            & _np_bool(pc.match_substring_regex(sub, _YEARISH))
            & ~_np_bool(pc.match_substring_regex(sub, _THREE_NUMBERS))
        )
        candidates = left[likely]
        if not len(candidates):
            return
        candidates = candidates[np.argsort(-weights[candidates], kind="stable")]
        parser = _dateparser()
        tried = found = 0
        for i in candidates:
            if tried >= _FALLBACK_MAX or (tried >= _FALLBACK_PROBE and found * 4 < tried):
                break
            tried += 1
            try:
                parsed = parser.get_date_data(self.parts[int(i)].as_py()).date_obj
            except Exception:  # dateparser raises assorted errors on odd text: not a date
                parsed = None
            if parsed is None:
                continue
            found += 1
            self.stamp[i] = np.datetime64(parsed.replace(tzinfo=None), "us")
            self.reason[i] = None
            self.family[i] = _FALLBACK_F
            self.own_time[i] = bool(parsed.hour or parsed.minute or parsed.second)
            self.label[i] = "long date (dateparser)"
        if tried < len(candidates):
            self.fallback_note = (
                f"dateparser stopped after {tried} texts ({found} dates): "
                f"{len(candidates) - tried} more left as not dates"
            )

    def _settle(
        self, idx: np.ndarray, stamp: np.ndarray, family: int, own_time: bool = False
    ) -> None:
        stamp = stamp.astype("datetime64[us]")
        self.stamp[idx] = stamp
        self.family[idx] = family
        self.own_time[idx] = own_time
        self.reason[idx] = np.where(np.isnat(stamp), "impossible date or time", None)

    def label_codes(self) -> tuple[np.ndarray, list[str]]:
        """A code per part (-1 where unlabelled) and the labels the codes index."""
        codes, labels = pd.factorize(pd.Series(self.label, dtype=object), use_na_sentinel=True)
        return codes.astype(np.int64), list(labels)

    def decide_order(
        self, order: str, hint: str | None, ampm_example: str | None, example: Any
    ) -> _Decision:
        """Settle the numeric d/m/y parts. The dd.mm.yyyy ones and the others (/ or -) each
        get an order; `example(mask, k)` gives k texts (as written) of the parts in mask."""
        if not self._numeric:
            return _Decision(None, "", False)
        num = self._numeric
        idx, a, b = num["idx"], num["a"], num["b"]
        dot = self.dot[idx]
        day_only = (a > 12) & (a <= 31) & (b <= 12)
        month_only = (b > 12) & (b <= 31) & (a <= 12)

        def at(mask: np.ndarray) -> np.ndarray:
            out = np.zeros(len(self.family), dtype=bool)
            out[idx[mask]] = True
            return out

        orders: dict[bool, str | None] = {}
        notes: dict[bool, str] = {}
        undecided = False
        for is_dot in (True, False):  # dotted first: their order is evidence for the others
            group = dot == is_dot
            if not group.any():
                continue
            if order != "auto":
                chosen, why = order, f"{order} (as set for this import)"
            else:
                n_day, n_month = int((day_only & group).sum()), int((month_only & group).sum())
                day_ex = example(at(day_only & group))
                month_ex = example(at(month_only & group))
                chosen, why = None, ""
                if n_day and not n_month:
                    chosen, why = DAY_FIRST, f"day-first: {day_ex} only fits day-first"
                elif n_month and not n_day:
                    chosen, why = MONTH_FIRST, f"month-first: {month_ex} only fits month-first"
                elif n_day or n_month:
                    why = (
                        f"mixed orders ({n_day} only fit day-first, e.g. {day_ex}; "
                        f"{n_month} only month-first, e.g. {month_ex})"
                    )
                    if n_day != n_month:
                        chosen = DAY_FIRST if n_day > n_month else MONTH_FIRST
                        why = f"{chosen}: {why}; the values that do not fit are rejected"
                if chosen and hint and chosen != hint:
                    why += f" (overriding the hint {hint})"
                if chosen is None:
                    chosen, because = _weak_evidence(is_dot, hint, ampm_example, orders.get(True))
                    tie = f"{why}, as many each way; " if why else ""
                    if chosen:
                        fits = "" if why else "every date fits both orders; "
                        rejected = "; the values that do not fit are rejected" if why else ""
                        why = f"{chosen}: {tie}{fits}{because}{rejected}"
                    elif why:
                        why = f"day/month order undecided: {tie}set the date order (dmy or mdy)"
                    else:
                        examples = example(at(group & (a != b)), 3)
                        why = (
                            "day/month order undecided: every date fits both orders (e.g. "
                            f"{examples}) and nothing else tells; set the date order (dmy or mdy)"
                        )
            left = self._assemble(group, chosen)
            if chosen is None and not left:
                why = ""  # every date reads the same in both orders (07/07/2024)
            orders[is_dot], notes[is_dot] = chosen, why
            undecided |= left
        if len(orders) == 2 and order == "auto" and orders[True] != orders[False]:
            note = f"{notes[False]}; dd.mm.yyyy dates: {notes[True]}"
        else:
            note = notes.get(False, notes.get(True, ""))
        # The order reported is that of the slash/dash dates: dotted ones follow a convention.
        reported = orders.get(False, orders.get(True))
        return _Decision(None if undecided else reported, note, undecided)

    def _assemble(self, group: np.ndarray, chosen: str | None) -> bool:
        """Dates of the numeric parts in `group` read in `chosen` order (None: only those
        that read the same either way or fit one order). True when some stay ambiguous."""
        num = self._numeric
        idx, a, b = num["idx"][group], num["a"][group], num["b"][group]
        if chosen is None:
            day = np.where(b > 12, b, a)
            month = np.where(b > 12, a, b)
            ambiguous = (a != b) & (a <= 12) & (b <= 12)
            wrong = np.zeros(len(idx), dtype=bool)
        else:
            day, month = (a, b) if chosen == DAY_FIRST else (b, a)
            ambiguous = np.zeros(len(idx), dtype=bool)
            wrong = (month > 12) & (day <= 12)
        stamp = _days(num["y"][group], month, day)
        stamp[ambiguous] = np.datetime64("NaT")
        self._settle(idx[~ambiguous], stamp[~ambiguous], _NUMERIC_F)
        self.family[idx] = _NUMERIC_F
        self.ambiguous[idx] = ambiguous
        self.reason[idx[ambiguous]] = "day/month order undecided (set dmy or mdy)"
        self.reason[idx[wrong]] = f"does not fit the {chosen} order of this column"
        first, second = {DAY_FIRST: ("DD", "MM"), MONTH_FIRST: ("MM", "DD")}.get(
            chosen or "", ("NN", "NN")
        )
        sep = num["sep"][group]
        spaced = np.char.find(sep, " ") >= 0
        sep = np.char.strip(sep)
        year = np.where(num["short"][group], "YY", "YYYY")
        label = np.char.add(np.char.add(np.char.add(first, sep), np.char.add(second, sep)), year)
        label = np.where(spaced, np.char.add(f"{first[0]}. {second[0]}. ", year), label)
        if chosen is None:
            label = np.char.add(label, " (day/month order undecided)")
        self.label[idx] = label
        return bool(ambiguous.any())


def _weak_evidence(
    is_dot: bool, hint: str | None, ampm_example: str | None, dot_order: str | None
) -> tuple[str | None, str]:
    """The order when no value decides, and why; (None, "") when nothing tells."""
    if is_dot:
        return DAY_FIRST, "dd.mm.yyyy dates are day-first by convention"
    if hint:
        return hint, f"{hint} as hinted (the export's known format)"
    if ampm_example:
        return MONTH_FIRST, f"the times use AM/PM (US style), e.g. {ampm_example}"
    if dot_order:
        return dot_order, "like the dd.mm.yyyy dates of this column"
    return None, ""


@cache
def _name_tables() -> tuple[dict[str, int], dict[str, int]]:
    """Month (1–12) and weekday (0 = Monday) by lowercase name or abbreviation, from
    dateparser's locales; a name given to two different months or days is dropped
    (Norwegian "tor" is Thursday, Slovenian "tor" Tuesday), so it is never guessed."""
    from dateparser.languages.loader import default_loader

    tables: list[dict[str, set[int]]] = [{}, {}]
    for lang in LANGUAGES:
        info = default_loader.get_locale(lang).info
        for table, keys, first in ((tables[0], _MONTH_KEYS, 1), (tables[1], _WEEKDAY_KEYS, 0)):
            for number, key in enumerate(keys, first):
                for name in info.get(key, []):
                    table.setdefault(name.lower(), set()).add(number)
    for name, number in _EXTRA_MONTHS.items():
        tables[0].setdefault(name, set()).add(number)
    months, weekdays = (
        {name: next(iter(nums)) for name, nums in table.items() if len(nums) == 1}
        for table in tables
    )
    return months, weekdays


@cache
def _dateparser() -> Any:
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=list(LANGUAGES),
        settings={
            # day, month and year must all be written: nothing is filled in from today
            "STRICT_PARSING": True,
            "REQUIRE_PARTS": ["day", "month", "year"],
            "PARSERS": ["absolute-time"],  # no "yesterday", no "3 days ago"
            "TIMEZONE": "UTC",
            "TO_TIMEZONE": "UTC",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "DATE_ORDER": "DMY",
        },
    )


# --- helpers --------------------------------------------------------------------------------


def _kind(codes: np.ndarray, counted: np.ndarray, weights: np.ndarray, labels: list) -> str:
    """The formats found, by share of rows: "A" or "A (90%), B (10%)"."""
    keep = counted & (codes >= 0)
    if not keep.any():
        return ""
    found, inverse = np.unique(codes[keep], return_inverse=True)
    rows = np.bincount(inverse, weights=weights[keep])
    names: dict[str, float] = {}
    for code, count in zip(found, rows, strict=True):
        name = _kind_name(labels[code // 32], int(code % 32))
        names[name] = names.get(name, 0.0) + count
    ranked = sorted(names.items(), key=lambda kv: -kv[1])
    if len(ranked) == 1:
        return ranked[0][0]
    total = sum(names.values())
    shown = [f"{name} ({count / total:.0%})" for name, count in ranked[:4]]
    return ", ".join(shown) + (", …" if len(ranked) > 4 else "")


def _kind_name(label: str, time_code: int) -> str:
    if label in ("ISO 8601", "Excel serial", "epoch seconds", "epoch milliseconds"):
        return label
    if label == "Weekday, D Month YYYY" and time_code & 2 and time_code & 8:
        return "RFC 2822"
    if not time_code & 1:
        return label
    twelve = time_code & 4
    clock = "hh:mm" if twelve else "HH:MM"
    if time_code & 2:
        clock += ":ss" if twelve else ":SS"
    if time_code & 16:
        clock += ".fff"
    return f"{label} {clock}" + (" AM" if twelve else "") + (" zone" if time_code & 8 else "")


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates (datetime64[us] at midnight) from components; NaT where impossible."""
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (year >= 1) & (year <= 9999)
    months = (np.where(ok, year, 1970) - 1970) * 12 + np.where(ok, month, 1) - 1
    start = months.astype("datetime64[M]").astype("datetime64[D]")
    date = start + (np.where(ok, day, 1) - 1).astype("timedelta64[D]")
    ok &= date.astype("datetime64[M]") == start.astype("datetime64[M]")  # 31 April → May
    return np.where(ok, date.astype("datetime64[us]"), _NAT)


def _ints(groups: pa.StructArray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Integer groups (-1 where absent); "f" is a fraction of a second → microseconds."""
    out: dict[str, np.ndarray] = {}
    for name in names:
        col = pc.struct_field(groups, name)
        col = pc.if_else(pc.equal(col, ""), None, col)
        if name == "f":
            col = pc.utf8_rpad(pc.utf8_slice_codeunits(col, 0, 6), 6, "0")
        ints = pc.cast(col, pa.int64())
        out[name] = ints.fill_null(-1).to_numpy(zero_copy_only=False).copy()
    return out


def _fraction(groups: pa.StructArray, name: str) -> np.ndarray:
    """A group of digits after the decimal point as a float in [0, 1) (0 where absent)."""
    col = pc.struct_field(groups, name)
    col = pc.if_else(pc.equal(col, ""), None, col)
    text = pc.binary_join_element_wise("0.", col, "").fill_null("0")
    return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)


def _strings(groups: pa.StructArray, name: str) -> np.ndarray:
    return np.asarray(
        pc.struct_field(groups, name).fill_null("").to_numpy(zero_copy_only=False), dtype=str
    )


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


__all__ = [
    "DATE_ORDERS",
    "DATE_ORDER_CHOICES",
    "DAY_FIRST",
    "MONTH_FIRST",
    "ParsedDates",
    "normalise_order",
    "parse_dates",
]
