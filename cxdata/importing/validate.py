"""Row-level validation: a mapped Source → accepted rows in the canonical schema + rejects.

Every row is checked column by column on whole arrays (each distinct text parsed once).
A row with any invalid value is rejected whole and every offending column is reported;
a response row without any score or rating is rejected too. Always
`imported + rejected == read`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxdata import schema
from cxdata.importing.dates import parse_dates
from cxdata.importing.mapping import RATING, VALUE, ColumnMap, Mapping, check_mapping
from cxdata.importing.numbers import ParsedNumbers, missing_mask, parse_numbers, parse_yes_no
from cxdata.importing.readers import Source
from cxdata.importing.rejects import REJECT_COLUMNS

MAX_VALUE_CHARS = 200
# Values of these fields are matched case-insensitively to the canonical spelling.
CANONICAL_VALUES: dict[str, tuple[str, ...]] = {
    "journey_stage": schema.JOURNEY_STAGES,
    "channel": schema.CHANNELS,
}
_STRING_FIELDS = frozenset(c for c, t in schema.RESPONSE_CORE.items() if t == "string") | {
    "metric",
    "unit",
    "touchpoint",
}

ExistingIds = Callable[[pd.Series], np.ndarray]


@dataclass
class Validated:
    """The outcome of validation: `frame` (accepted rows, canonical columns + segments),
    `ratings` (touchpoint_ratings long rows of the accepted responses), `rejects` (one line
    per offending column of each rejected row: row, column, value, reason)."""

    dataset: str
    frame: pd.DataFrame
    ratings: pd.DataFrame
    rejects: pd.DataFrame
    read: int
    rejected: int
    warnings: list[str] = field(default_factory=list)
    date_order: str | None = None

    @property
    def imported(self) -> int:
        """Rows that passed: read − rejected."""
        return self.read - self.rejected


class _Problems:
    """Collects invalid cells per column and the rows they reject."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.bad = np.zeros(len(rows), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def add(
        self,
        mask: np.ndarray,
        column: str,
        values: pd.Series | np.ndarray | str,
        reason: str | np.ndarray,
    ) -> None:
        if not mask.any():
            return
        self.bad |= mask
        if isinstance(values, str):
            shown: object = values
        else:
            picked = (
                values.iloc[np.flatnonzero(mask)] if isinstance(values, pd.Series) else values[mask]
            )
            raw = pd.Series(np.asarray(picked, dtype=object), dtype="str")
            shown = raw.str.slice(0, MAX_VALUE_CHARS).to_numpy(dtype=object)
        self.parts.append(
            pd.DataFrame(
                {
                    "row": self.rows[mask],
                    "column": column,
                    "value": shown,
                    "reason": reason[mask] if isinstance(reason, np.ndarray) else reason,
                }
            )
        )


def validate(
    source: Source,
    mapping: Mapping,
    *,
    id_prefix: str,
    existing_ids: ExistingIds | None = None,
    existing_types: dict[str, str] | None = None,
    now: pd.Timestamp | None = None,
) -> Validated:
    """Check every row of `source` under `mapping`.

    `id_prefix` makes response ids `<prefix>-<row>` when no column holds them;
    `existing_ids(ids)` says which ids are already stored (append mode); `existing_types`
    gives the stored type of columns that already exist, so segment values are checked
    against it; `now` dates responses when no column holds a date.
    """
    warnings = check_mapping(mapping, source.headers, source.name)
    problems = _Problems(source.rows)
    types = existing_types or {}
    if mapping.dataset == schema.RESPONSES:
        frame, ratings, date_order, notes = _responses(
            source, mapping, problems, id_prefix, existing_ids, types, now
        )
        positions = np.arange(len(frame))
    else:
        frame, positions, date_order, notes = _metrics(source, mapping, problems, types)
        ratings = _no_ratings()
    warnings += notes
    keep = ~problems.bad
    frame = frame.loc[keep[positions]].reset_index(drop=True)
    ratings = ratings.loc[keep[ratings.pop("_row").to_numpy()]].reset_index(drop=True)
    bad_records = source.bad_records
    if len(bad_records):
        width = len(source.headers)
        problems.parts.append(
            pd.DataFrame(
                {
                    "row": bad_records["row"].to_numpy(),
                    "column": "",
                    "value": bad_records["text"].to_numpy(dtype=object),
                    "reason": [
                        f"{n} fields where the header has {width}" for n in bad_records["fields"]
                    ],
                }
            )
        )
    rejects = (
        pd.concat(problems.parts, ignore_index=True)
        if problems.parts
        else pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})
    )
    rejects = rejects.sort_values("row", kind="stable").reset_index(drop=True)
    if source.blank_rows:
        warnings.append(f"{source.blank_rows} empty rows skipped")
    return Validated(
        dataset=mapping.dataset,
        frame=frame,
        ratings=ratings,
        rejects=rejects,
        read=source.read,
        rejected=int(problems.bad.sum()) + len(bad_records),
        warnings=warnings,
        date_order=date_order,
    )


# --- responses -----------------------------------------------------------------------------


def _responses(
    source: Source,
    mapping: Mapping,
    problems: _Problems,
    id_prefix: str,
    existing_ids: ExistingIds | None,
    types: dict[str, str],
    now: pd.Timestamp | None,
) -> tuple[pd.DataFrame, pd.DataFrame, str | None, list[str]]:
    n = len(source.frame)
    notes: list[str] = []
    out: dict[str, object] = {}
    date_order = None
    answered = np.zeros(n, dtype=bool)
    score_sources: list[str] = []
    rating_parts: list[pd.DataFrame] = []

    for col in mapping.mapped():
        texts = source.frame[col.source]
        if col.to in schema.SCORE_COLUMNS or col.to == RATING:
            answered |= ~missing_mask(texts)
        if col.to in schema.SCORE_COLUMNS:
            out[str(col.to)] = _score(texts, col, problems)
            score_sources.append(col.source)
        elif col.to == RATING:
            values, present = _rating(texts, col, problems)
            score_sources.append(col.source)
            rating_parts.append(
                pd.DataFrame(
                    {
                        "_row": np.flatnonzero(present),
                        "touchpoint": str(col.touchpoint).strip(),
                        "rating": values[present],
                        "scale": _scale_label(col.scale),
                    }
                )
            )
        elif col.to == "submitted_at":
            out["submitted_at"], date_order, note = _dates(
                texts, col, problems, order=mapping.date_order
            )
            notes.append(f"{col.source}: dates read {note}")
        elif col.to == "response_id":
            out["response_id"] = _ids(texts, col, problems, source.rows, existing_ids)
        else:
            out[str(col.to)] = _text(texts, str(col.to), col, problems, types)

    if "response_id" not in out:
        ids = pd.Series(source.rows, dtype="int64").astype("str")
        out["response_id"] = (id_prefix + "-" + ids).astype("str")
        if existing_ids is not None:
            stored = existing_ids(out["response_id"])
            problems.add(
                stored,
                "",
                out["response_id"],
                "response id already stored (this file was imported before?)",
            )
    if "submitted_at" not in out:
        stamp = (now or pd.Timestamp.now()).floor("s")
        out["submitted_at"] = np.full(n, stamp.to_datetime64(), dtype="datetime64[us]")
        notes.append(f"no date column: every response is dated {stamp:%Y-%m-%d %H:%M}")
    problems.add(~answered, "", "", f"no score: {', '.join(score_sources)} all empty")

    frame = pd.DataFrame(index=pd.RangeIndex(n))
    for name, kind in schema.RESPONSE_CORE.items():
        frame[name] = out.pop(name) if name in out else _empty(kind, n)
    for name, values in out.items():
        frame[name] = values
    ratings = (
        pd.concat(rating_parts, ignore_index=True)
        if rating_parts
        else pd.DataFrame(
            {
                "_row": pd.Series(dtype="int64"),
                "touchpoint": pd.Series(dtype="str"),
                "rating": pd.Series(dtype="float64"),
                "scale": pd.Series(dtype="str"),
            }
        )
    )
    ratings.insert(
        0, "response_id", frame["response_id"].to_numpy(dtype=object)[ratings["_row"].to_numpy()]
    )
    ratings["response_id"] = ratings["response_id"].astype("str")
    return frame, ratings, date_order, notes


def _score(texts: pd.Series, col: ColumnMap, problems: _Problems) -> pd.Series:
    target = schema.SCALES[str(col.to)]
    low, high = col.scale or (target.low, target.high)
    nums = parse_numbers(texts)
    values = nums.values
    label = f"{col.to} {low}–{high}"
    problems.add(nums.invalid, col.source, texts, f"not a number ({label})")
    checked = ~nums.missing & ~nums.invalid
    fraction = checked & (values != np.floor(values))
    problems.add(fraction, col.source, texts, f"not a whole number ({label})")
    outside = checked & ~fraction & ((values < low) | (values > high))
    problems.add(outside, col.source, texts, f"outside the scale ({label})")
    ok = checked & ~fraction & ~outside
    if col.rescale and (low, high) != (target.low, target.high):
        scaled = target.low + (values - low) * (target.high - target.low) / (high - low)
        values = np.floor(scaled + 0.5)
    scores = pd.array(np.where(ok, values, 0).astype(np.int8), dtype="Int8")
    scores[~ok] = pd.NA
    return pd.Series(scores)


def _rating(texts: pd.Series, col: ColumnMap, problems: _Problems) -> tuple[np.ndarray, np.ndarray]:
    low, high = col.scale or (0, 10)
    nums: ParsedNumbers = parse_numbers(texts)
    if (low, high) == (0, 1):
        words = parse_yes_no(texts)
        nums = ParsedNumbers(
            np.where(words.invalid, nums.values, words.values),
            words.missing,
            words.invalid & nums.invalid,
        )
    label = f"{col.touchpoint} {low}–{high}"
    problems.add(nums.invalid, col.source, texts, f"not a number (rating {label})")
    checked = ~nums.missing & ~nums.invalid
    outside = checked & ((nums.values < low) | (nums.values > high))
    problems.add(outside, col.source, texts, f"outside the scale (rating {label})")
    return nums.values, checked & ~outside


def _scale_label(scale: tuple[int, int] | None) -> str:
    return f"{scale[0]}-{scale[1]}" if scale else ""


def _dates(
    texts: pd.Series, col: ColumnMap, problems: _Problems, *, order: str
) -> tuple[np.ndarray, str | None, str]:
    """Parsed dates of a required date column (empty → rejected)."""
    parsed = parse_dates(texts, order)
    problems.add(parsed.invalid, col.source, texts, parsed.reasons.astype(object))
    empty = np.isnat(parsed.values) & ~parsed.invalid
    problems.add(empty, col.source, "", "missing date")
    return parsed.values, parsed.order, parsed.note or "with no day/month order to decide"


def _ids(
    texts: pd.Series,
    col: ColumnMap,
    problems: _Problems,
    rows: np.ndarray,
    existing_ids: ExistingIds | None,
) -> pd.Series:
    ids = texts.astype("str").str.strip()
    missing = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    problems.add(missing, col.source, "", "missing response id")
    present = ~missing
    dup = ids.duplicated(keep="first").to_numpy(dtype=bool) & present
    if dup.any():
        first = pd.Series(rows[present & ~dup], index=ids[present & ~dup].to_numpy())
        first_rows = first.reindex(ids[dup].to_numpy()).to_numpy()
        reasons = np.full(len(ids), "", dtype=object)
        reasons[dup] = [f"duplicate response id (first in row {r})" for r in first_rows]
        problems.add(dup, col.source, ids, reasons)
    if existing_ids is not None:
        candidates = present & ~dup
        stored = np.zeros(len(ids), dtype=bool)
        stored[candidates] = existing_ids(ids[candidates])
        problems.add(stored, col.source, ids, "response id already stored")
    return ids


def _text(
    texts: pd.Series, name: str, col: ColumnMap, problems: _Problems, types: dict[str, str]
) -> pd.Series | np.ndarray:
    """A text field or segment; a segment that already exists in the store with another
    type is checked against that type."""
    stored = types.get(name, "string")
    if name not in _STRING_FIELDS and stored not in ("string", "null"):
        return _typed(texts, name, stored, col, problems)
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)  # clean each text once
    clean = pd.Series(uniques, dtype="str").str.strip()
    clean = clean.where(clean != "")
    canon = CANONICAL_VALUES.get(name)
    if canon:
        lookup = {v.casefold(): v for v in canon}
        folded = clean.str.casefold()
        clean = clean.where(~folded.isin(lookup), folded.map(lookup))
    return pd.Series(clean.array.take(codes, allow_fill=True), dtype="str")


def _typed(
    texts: pd.Series, name: str, stored: str, col: ColumnMap, problems: _Problems
) -> pd.Series | np.ndarray:
    if stored.startswith(("int", "uint")):
        nums = parse_numbers(texts)
        whole = ~nums.invalid & ~nums.missing & (nums.values == np.floor(nums.values))
        problems.add(
            ~nums.missing & ~whole,
            col.source,
            texts,
            f"not a whole number (the stored column {name} is {stored})",
        )
        return pd.array(np.where(whole, nums.values, np.nan), dtype="Int64")
    if stored.startswith(("float", "decimal")):
        nums = parse_numbers(texts)
        problems.add(
            nums.invalid, col.source, texts, f"not a number (the stored column {name} is {stored})"
        )
        return nums.values
    if stored.startswith(("timestamp", "date")):
        parsed = parse_dates(texts)
        problems.add(parsed.invalid, col.source, texts, parsed.reasons.astype(object))
        return parsed.values
    if stored == "boolean":
        words = parse_yes_no(texts)
        problems.add(
            words.invalid, col.source, texts, f"not yes/no (the stored column {name} is boolean)"
        )
        return pd.array(
            np.where(words.missing | words.invalid, None, words.values == 1), dtype="boolean"
        )
    return texts.astype("str").str.strip()


def _empty(kind: str, n: int) -> object:
    if kind == "timestamp":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if kind == "int8":
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int8), np.ones(n, dtype=bool))
    if kind == "float64":
        return np.full(n, np.nan)
    return pd.Series(index=pd.RangeIndex(n), dtype="str")


# --- metrics -------------------------------------------------------------------------------


def _metrics(
    source: Source, mapping: Mapping, problems: _Problems, types: dict[str, str]
) -> tuple[pd.DataFrame, np.ndarray, str | None, list[str]]:
    n = len(source.frame)
    out: dict[str, object] = {}
    notes: list[str] = []
    date_order = None
    wide: list[tuple[ColumnMap, np.ndarray, np.ndarray]] = []
    for col in mapping.mapped():
        texts = source.frame[col.source]
        if col.to == "date":
            stamps, date_order, note = _dates(texts, col, problems, order=mapping.date_order)
            out["date"] = stamps.astype("datetime64[D]")
            notes.append(f"{col.source}: dates read {note}")
        elif col.to in (VALUE, "target"):
            nums = parse_numbers(texts)
            problems.add(nums.invalid, col.source, texts, "not a number")
            if col.to == VALUE and col.metric:
                wide.append((col, nums.values, ~nums.missing & ~nums.invalid))
            else:
                if col.to == VALUE:
                    problems.add(nums.missing, col.source, "", "missing value")
                out[str(col.to)] = nums.values
        else:
            values = _text(texts, str(col.to), col, problems, types)
            if col.to == "metric":
                problems.add(
                    np.asarray(pd.isna(values), dtype=bool), col.source, "", "missing metric name"
                )
            out[str(col.to)] = values
    if wide:
        any_value = np.zeros(n, dtype=bool)
        for _, _, present in wide:
            any_value |= present
        sources = ", ".join(c.source for c, _, _ in wide)
        problems.add(~any_value & ~problems.bad, "", "", f"no value: {sources} all empty")
    base = pd.DataFrame(index=pd.RangeIndex(n))
    for name, kind in schema.METRIC_CORE.items():
        if name in out:
            base[name] = out.pop(name)
        elif not (wide and name in ("metric", VALUE)):
            base[name] = (
                np.full(n, np.datetime64("NaT"), "datetime64[D]")
                if kind == "date"
                else _empty(kind, n)
            )
    for name, values in out.items():
        base[name] = values
    if not wide:
        return base, np.arange(n), date_order, notes
    long, positions = _melt(base, wide)
    return long, positions, date_order, notes


def _melt(
    base: pd.DataFrame, wide: list[tuple[ColumnMap, np.ndarray, np.ndarray]]
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (source row, metric column with a value), and each one's source row."""
    parts, positions = [], []
    for col, values, present in wide:
        idx = np.flatnonzero(present)
        part = base.iloc[idx].reset_index(drop=True)
        part.insert(1, "metric", str(col.metric))
        part.insert(2, VALUE, values[idx])
        parts.append(part)
        positions.append(idx)
    pos = np.concatenate(positions)
    order = np.argsort(pos, kind="stable")
    long = pd.concat(parts, ignore_index=True).iloc[order].reset_index(drop=True)
    return long, pos[order]


def _no_ratings() -> pd.DataFrame:
    return pd.DataFrame({"_row": pd.Series(dtype="int64")})
