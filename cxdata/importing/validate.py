"""Row-level validation: a mapped Source → accepted rows in the canonical schema + rejects.

Every row is checked column by column on whole arrays (each distinct text parsed once).
A row with any invalid value is rejected whole and every offending column is reported with
a reason and a reason code; a response row with no score, touchpoint rating or comment
(nothing the customer said) is rejected too, and the rows kept without an NPS, CSAT or CES
answer are counted (`without_scores`).
An answer that is a missing-answer code ("don't know", "Ne vem", −1…) makes that answer
missing and keeps the rest. A response whose id is already stored is not imported again
and counted as such. Always `imported + rejected + already_stored == read`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxdata import schema
from cxdata.importing.dates import parse_dates
from cxdata.importing.errors import DateOrderUndecided, MappingError
from cxdata.importing.mapping import (
    ID_SCOPE_FILE,
    RATING,
    SPLIT,
    TEXT,
    VALUE,
    ColumnMap,
    Mapping,
    check_mapping,
)
from cxdata.importing.names import display_name
from cxdata.importing.numbers import ParsedNumbers, parse_numbers, parse_yes_no
from cxdata.importing.platforms import by_key
from cxdata.importing.readers import Source
from cxdata.importing.rejects import REJECT_COLUMNS
from cxdata.importing.vocab import channel_name, label_key

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
FINGERPRINT_PREFIX = "fp-"
FUTURE_TOLERANCE = pd.Timedelta(days=1)
"""Dates up to a day ahead are accepted (time zones); later ones are rejected."""

ExistingIds = Callable[[pd.Series], np.ndarray]


@dataclass
class Validated:
    """The outcome of validation: `frame` (accepted rows, canonical columns + segments),
    `ratings` (touchpoint_ratings long rows of the accepted responses), `rejects` (one line
    per offending column of each rejected row: row, column, value, reason, code),
    `already_stored` (rows whose response id is stored: not imported again),
    `missing_answers` (column → answers that were missing-answer codes) and
    `without_scores` (rows to be imported that have no NPS, CSAT or CES answer: kept for
    a touchpoint rating or a comment)."""

    dataset: str
    frame: pd.DataFrame
    ratings: pd.DataFrame
    rejects: pd.DataFrame
    read: int
    rejected: int
    already_stored: int = 0
    missing_answers: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    date_order: str | None = None
    without_scores: int = 0

    @property
    def imported(self) -> int:
        """Rows that will be stored: read − rejected − already stored."""
        return self.read - self.rejected - self.already_stored


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
        code: str,
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
                    "code": code,
                }
            )
        )


@dataclass
class _Context:
    """What the response checks share: the source, its problems, missing-answer counts."""

    source: Source
    mapping: Mapping
    problems: _Problems
    types: dict[str, str]
    salt: bytes
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    coded: np.ndarray | None = None
    without_scores: np.ndarray | None = None  # per row: no NPS, CSAT or CES answer

    def count_missing(self, col: ColumnMap, coded: np.ndarray) -> None:
        """Count a column's missing-answer codes and remember the rows that gave one."""
        if coded.any():
            self.missing[col.source] = self.missing.get(col.source, 0) + int(coded.sum())
            self.coded = coded if self.coded is None else self.coded | coded


def validate(
    source: Source,
    mapping: Mapping,
    *,
    existing_ids: ExistingIds | None = None,
    existing_types: dict[str, str] | None = None,
    salt: bytes = b"",
) -> Validated:
    """Check every row of `source` under `mapping`.

    `existing_ids(ids)` says which response ids are already stored (append mode);
    `existing_types` gives the stored type of columns that already exist, so segment
    values are checked against it; `salt` is mixed into hashed customer ids.
    Raises MappingError (every problem of the mapping at once) and DateOrderUndecided
    (the day/month order of a date column cannot be told from the file).
    """
    if source.read == 0:  # nothing below the header: nothing to check, nothing to store
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})
        return Validated(
            mapping.dataset,
            pd.DataFrame(),
            _no_rating_rows(),
            empty,
            read=0,
            rejected=0,
            warnings=[f"{source.name}: no rows below the header"],
        )
    warnings = check_mapping(mapping, source.headers, source.name)
    problems = _Problems(source.rows)
    ctx = _Context(source, mapping, problems, existing_types or {}, salt)
    stored = np.zeros(len(source.frame), dtype=bool)
    if mapping.dataset == schema.RESPONSES:
        frame, ratings, date_order, stored = _responses(ctx, existing_ids)
        positions = np.arange(len(frame))
    else:
        frame, positions, date_order, notes = _metrics(ctx)
        ctx.notes += notes
        ratings = _no_ratings()
    warnings += ctx.notes
    keep = ~problems.bad & ~stored
    frame = frame.loc[keep[positions]].reset_index(drop=True)
    ratings = ratings.loc[keep[ratings.pop("_row").to_numpy()]].reset_index(drop=True)
    _add_bad_records(source, problems)
    rejects = (
        pd.concat(problems.parts, ignore_index=True)
        if problems.parts
        else pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})
    )
    rejects = rejects.sort_values("row", kind="stable").reset_index(drop=True)
    warnings += source.skipped
    if source.blank_rows:
        warnings.append(f"{source.blank_rows} empty rows skipped")
    for column, count in ctx.missing.items():
        warnings.append(f"{column}: {count} answers were missing-answer codes (kept as no answer)")
    without = 0 if ctx.without_scores is None else int((ctx.without_scores & keep).sum())
    if without:
        warnings.append(without_scores_note(without, int(keep.sum())))
    return Validated(
        dataset=mapping.dataset,
        frame=frame,
        ratings=ratings,
        rejects=rejects,
        read=source.read,
        rejected=int(problems.bad.sum()) + len(source.bad_records),
        already_stored=int((stored & ~problems.bad).sum()),
        missing_answers=dict(ctx.missing),
        warnings=warnings,
        date_order=date_order,
        without_scores=without,
    )


def without_scores_note(without: int, imported: int) -> str:
    """The report's line on rows kept without an NPS, CSAT or CES answer."""
    return (
        f"{without:,} of {imported:,} rows have no NPS, CSAT or CES: kept for their touchpoint "
        "ratings or comment; they count as responses, not in those scores"
    )


def _reasons(bad_records: pd.DataFrame) -> list[object]:
    """The reader's own reason per broken record (a line that is not valid UTF-8), or None
    where the record only had the wrong number of fields."""
    if "reason" not in bad_records:
        return [None] * len(bad_records)
    return [r if isinstance(r, str) else None for r in bad_records["reason"].tolist()]


def _add_bad_records(source: Source, problems: _Problems) -> None:
    bad_records = source.bad_records
    if not len(bad_records):
        return
    width = len(source.headers)
    problems.parts.append(
        pd.DataFrame(
            {
                "row": bad_records["row"].to_numpy(),
                "column": "",
                "value": bad_records["text"].to_numpy(dtype=object),
                "reason": [
                    reason
                    if isinstance(reason, str)
                    else f"{n} fields where the header has {width}"
                    for n, reason in zip(bad_records["fields"], _reasons(bad_records), strict=True)
                ],
                "code": [
                    "bad_encoding" if isinstance(reason, str) else "bad_record"
                    for reason in _reasons(bad_records)
                ],
            }
        )
    )


# --- responses -----------------------------------------------------------------------------


def _responses(
    ctx: _Context, existing_ids: ExistingIds | None
) -> tuple[pd.DataFrame, pd.DataFrame, str | None, np.ndarray]:
    source, mapping, problems = ctx.source, ctx.mapping, ctx.problems
    n = len(source.frame)
    out: dict[str, object] = {}
    date_order = None
    answered = np.zeros(n, dtype=bool)
    score_sources: list[str] = []
    rating_parts: list[pd.DataFrame] = []

    for col in mapping.mapped():
        texts = source.frame[col.source]
        if col.to in schema.SCORE_COLUMNS:
            values, present, raw = _score(texts, col, str(col.to), ctx)
            out[str(col.to)] = values
            answered |= present
            score_sources.append(col.source)
            if raw is not None:  # CSAT on another scale: its answers also kept as a rating
                rating_parts.append(_rating_rows(raw, present, _display(col), col.scale))
        elif col.to == SPLIT:
            for target, values, present in _split(texts, col, ctx):
                out[target] = values
                answered |= present
            score_sources.append(col.source)
        elif col.to == RATING:
            values, present = _rating(texts, col, ctx)
            answered |= present
            score_sources.append(col.source)
            rating_parts.append(_rating_rows(values, present, str(col.touchpoint), col.scale))
        elif col.to == "submitted_at":
            out["submitted_at"], date_order, note = _dates(texts, col, ctx)
            ctx.notes.append(f"{col.source}: dates read {note}")
        elif col.to == "response_id":
            out["response_id"] = _ids(texts, col, ctx)
        elif col.to == "customer_id" and col.hash:
            out["customer_id"] = _hashed(texts, ctx.salt)
        else:
            name = str(col.stored_as)
            out[name] = _text(texts, name, col, ctx)

    if "response_id" not in out:
        out["response_id"] = _fingerprints(source, mapping)
    stored = _stored(out["response_id"], existing_ids, problems.bad)
    # A response is something the customer said: a score, a touchpoint rating or a text
    # (a review with only its text is voice of the customer). A row that answered "don't
    # know" / "no rating" everywhere is kept too (like Zendesk's Offered); a row with
    # nothing at all is rejected.
    said = _texts_given(out, mapping, n)
    coded = ctx.coded if ctx.coded is not None else np.zeros(n, dtype=bool)
    asked = ", ".join([*score_sources, *(c.source for c in mapping.mapped() if _is_text(c))])
    problems.add(
        ~answered & ~said & ~coded,
        "",
        "",
        f"no score, rating or comment: {asked} all empty",
        "no_score",
    )
    ctx.without_scores = ~_any_core_score(out, n)
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    for name, kind in schema.RESPONSE_CORE.items():
        frame[name] = out.pop(name) if name in out else _empty(kind, n)
    for name, values in out.items():
        frame[name] = values
    ratings = pd.concat([_no_rating_rows(), *rating_parts], ignore_index=True)
    ratings.insert(
        0, "response_id", frame["response_id"].to_numpy(dtype=object)[ratings["_row"].to_numpy()]
    )
    ratings["response_id"] = ratings["response_id"].astype("str")
    return frame, ratings, date_order, stored


def _is_text(col: ColumnMap) -> bool:
    return col.to in ("comment", TEXT)


def _texts_given(out: dict[str, object], mapping: Mapping, n: int) -> np.ndarray:
    """Per row: whether the comment or an extra answer text (text_<name>) is filled."""
    given = np.zeros(n, dtype=bool)
    for col in mapping.mapped():
        if _is_text(col):
            values = pd.Series(out[str(col.stored_as)], dtype="str")
            given |= (values.str.strip().fillna("") != "").to_numpy(dtype=bool)
    return given


def _any_core_score(out: dict[str, object], n: int) -> np.ndarray:
    """Per row: whether it has an NPS, CSAT or CES answer."""
    scored = np.zeros(n, dtype=bool)
    for name in schema.SCORE_COLUMNS:
        if name in out:
            scored |= pd.Series(out[name]).notna().to_numpy(dtype=bool)
    return scored


def _display(col: ColumnMap) -> str:
    return col.touchpoint or display_name(col.source)[:80]


def _rating_rows(
    values: np.ndarray, present: np.ndarray, touchpoint: str, scale: tuple[int, int] | None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_row": np.flatnonzero(present),
            "touchpoint": touchpoint.strip(),
            "rating": values[present],
            "scale": f"{scale[0]}-{scale[1]}" if scale else "",
        }
    )


def _no_rating_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_row": pd.Series(dtype="int64"),
            "touchpoint": pd.Series(dtype="str"),
            "rating": pd.Series(dtype="float64"),
            "scale": pd.Series(dtype="str"),
        }
    )


def _answers(texts: pd.Series, col: ColumnMap, ctx: _Context) -> ParsedNumbers:
    """Numbers of an answer column: answer labels read through `col.labels`, the column's
    missing-answer codes made missing (and counted), the rest parsed as numbers."""
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    unique_texts = pd.Series(uniques, dtype="str").str.strip()
    keys = unique_texts.map(label_key)
    missing_keys = {label_key(m) for m in col.missing}
    coded_u = keys.isin(missing_keys).to_numpy(dtype=bool)
    nums_u = parse_numbers(unique_texts)
    values_u = nums_u.values.copy()
    invalid_u = nums_u.invalid.copy()
    if col.labels:
        lookup = {label_key(k): v for k, v in col.labels.items()}
        labelled = keys.map(lookup)
        hit = labelled.notna().to_numpy(dtype=bool)
        values_u[hit] = labelled[hit].to_numpy(dtype=float)
        invalid_u[hit] = False
    values_u[coded_u] = np.nan
    invalid_u[coded_u] = False
    absent = codes < 0
    idx = np.maximum(codes, 0)
    if not len(uniques):
        return ParsedNumbers(np.full(len(codes), np.nan), absent, np.zeros(len(codes), bool))
    coded = ~absent & coded_u[idx]
    ctx.count_missing(col, coded)
    missing = absent | nums_u.missing[idx] | coded
    invalid = ~absent & invalid_u[idx]
    values = np.where(absent, np.nan, values_u[idx])
    return ParsedNumbers(values, missing, invalid)


def _score(
    texts: pd.Series,
    col: ColumnMap,
    target_name: str,
    ctx: _Context,
    rows: np.ndarray | None = None,
) -> tuple[pd.Series, np.ndarray, np.ndarray | None]:
    """A score column (optionally only `rows` of it): stored values, which rows answered,
    and the raw answers when they are to be kept as a rating too (CSAT on another scale)."""
    target = schema.SCALES[target_name]
    low, high = col.scale or (target.low, target.high)
    nums = _answers(texts, col, ctx)
    values = nums.values
    label = f"{target_name} {low}–{high}"
    select = np.ones(len(values), dtype=bool) if rows is None else rows
    problems = ctx.problems
    problems.add(
        nums.invalid & select, col.source, texts, f"not a number ({label})", "not_a_number"
    )
    checked = ~nums.missing & ~nums.invalid & select
    fraction = checked & (values != np.floor(values))
    problems.add(fraction, col.source, texts, f"not a whole number ({label})", "not_whole")
    outside = checked & ~fraction & ((values < low) | (values > high))
    problems.add(outside, col.source, texts, f"outside the scale ({label})", "outside_scale")
    ok = checked & ~fraction & ~outside
    raw = None
    stored_values = values
    if (low, high) != (target.low, target.high):
        if col.rescale:
            scaled = target.low + (values - low) * (target.high - target.low) / (high - low)
            stored_values = np.floor(scaled + 0.5)
        elif target_name == "csat":
            stored_values, raw = csat_boxes(values, low, high), values
    scores = pd.array(np.where(ok, stored_values, 0).astype(np.int8), dtype="Int8")
    scores[~ok] = pd.NA
    return pd.Series(scores), ok, raw


def csat_boxes(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """CSAT answers on a `low`–`high` scale as 1–5 values with the same top-2-box and
    bottom-2-box: the two highest points → 5 and 4, the two lowest → 1 and 2, the rest → 3.
    So CSAT % (share of 4–5) is the top-2-box share of the original scale and CSAT ≤ 2
    (friction) its bottom two boxes. The original answers are kept as a rating."""
    out = np.full(len(values), 3.0)
    out[values >= high - 1] = 4.0
    out[values >= high] = 5.0
    out[values <= low + 1] = 2.0
    out[values <= low] = 1.0
    return np.where(np.isnan(values), np.nan, out)


def _split(
    texts: pd.Series, col: ColumnMap, ctx: _Context
) -> list[tuple[str, pd.Series, np.ndarray]]:
    """A long layout: the score of each row goes to the field its type column names."""
    kinds = ctx.source.frame[str(col.split_by)].astype("str").str.strip().str.lower()
    split = {k.lower(): v for k, v in (col.split or {}).items()}
    known = kinds.isin(list(split)).to_numpy(dtype=bool)
    has_answer = texts.notna().to_numpy(dtype=bool)
    ctx.problems.add(
        ~known & has_answer,
        str(col.split_by),
        ctx.source.frame[str(col.split_by)],
        f"unknown score type (expected {', '.join(split)})",
        "unknown_type",
    )
    out = []
    for target in dict.fromkeys(split.values()):
        rows = kinds.isin([k for k, v in split.items() if v == target]).to_numpy(dtype=bool)
        target_col = ColumnMap(
            col.source, target, scale=None, labels=col.labels, missing=col.missing
        )
        values, present, _ = _score(texts.where(rows), target_col, target, ctx, rows)
        out.append((target, values, present))
    return out


def _rating(texts: pd.Series, col: ColumnMap, ctx: _Context) -> tuple[np.ndarray, np.ndarray]:
    low, high = col.scale or (0, 10)
    nums: ParsedNumbers = _answers(texts, col, ctx)
    if (low, high) == (0, 1) and not col.labels:
        words = parse_yes_no(texts)
        nums = ParsedNumbers(
            np.where(words.invalid, nums.values, words.values),
            words.missing,
            words.invalid & nums.invalid,
        )
    label = f"{col.touchpoint} {low}–{high}"
    problems = ctx.problems
    problems.add(nums.invalid, col.source, texts, f"not a number (rating {label})", "not_a_number")
    checked = ~nums.missing & ~nums.invalid
    outside = checked & ((nums.values < low) | (nums.values > high))
    problems.add(outside, col.source, texts, f"outside the scale (rating {label})", "outside_scale")
    return nums.values, checked & ~outside


def _dates(texts: pd.Series, col: ColumnMap, ctx: _Context) -> tuple[np.ndarray, str | None, str]:
    """Parsed dates of the required date column (empty → rejected); times in `col.timezone`
    are converted to UTC. Raises DateOrderUndecided when nothing decides day/month order."""
    platform = by_key(ctx.mapping.platform)
    parsed = parse_dates(
        texts, ctx.mapping.date_order, hint=platform.date_order if platform else None
    )
    if parsed.undecided:
        raise DateOrderUndecided(f"{ctx.source.name}: column {col.source!r}: {parsed.note}")
    ctx.problems.add(parsed.invalid, col.source, texts, parsed.reasons.astype(object), "bad_date")
    empty = np.isnat(parsed.values) & ~parsed.invalid
    ctx.problems.add(empty, col.source, "", "missing date", "missing_date")
    values = parsed.values
    if col.timezone:  # values that carry their own zone (or are epochs) are UTC already
        local = ~np.asarray(parsed.zoned, dtype=bool)
        values = values.copy()
        values[local] = _to_utc(values[local], col.timezone, col.source)
    # A typo such as 2099 would move every date preset into the future: rejected.
    latest = (pd.Timestamp.now(tz="UTC").tz_localize(None) + FUTURE_TOLERANCE).to_datetime64()
    ctx.problems.add(
        ~np.isnat(values) & (values > latest),
        col.source,
        texts,
        f"in the future (after {pd.Timestamp(latest):%Y-%m-%d})",
        "future_date",
    )
    return values, parsed.order, parsed.note or "with no day/month order to decide"


def _to_utc(values: np.ndarray, zone: str, column: str) -> np.ndarray:
    try:
        local = pd.DatetimeIndex(values).tz_localize(
            zone, ambiguous="NaT", nonexistent="shift_forward"
        )
    except Exception as exc:  # an unknown zone name: pytz / zoneinfo errors differ
        raise MappingError(f"column {column!r}: unknown time zone {zone!r} ({exc})") from None
    return local.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]")


def id_scope(mapping: Mapping, file_name: str) -> str | None:
    """The prefix that keeps one form's ids apart from another's: for "file", the file name
    without its folder, suffix and download marks ("Survey(1-35).xlsx", "responses (1).csv"
    → "survey", "responses")."""
    if mapping.id_scope is None:
        return None
    if mapping.id_scope != ID_SCOPE_FILE:
        return mapping.id_scope
    stem = Path(file_name).stem.strip()
    previous = None
    while previous != stem:
        previous = stem
        stem = re.sub(r"\s*[\(\[]\d+(?:\s*-\s*\d+)?[\)\]]$", "", stem)
        stem = re.sub(r"\s*-\s*(?:copy|kopi|kopia|kopie|kopija)(?:\s*\d+)?$", "", stem, flags=re.I)
    return stem.casefold() or "file"


def _ids(texts: pd.Series, col: ColumnMap, ctx: _Context) -> pd.Series:
    problems, rows = ctx.problems, ctx.source.rows
    ids = texts.astype("str").str.strip()
    missing = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    problems.add(missing, col.source, "", "missing response id", "missing_id")
    scope = id_scope(ctx.mapping, ctx.source.name)
    if scope is not None:
        ids = (scope + ":" + ids).astype("str")
    present = ~missing
    dup = ids.duplicated(keep="first").to_numpy(dtype=bool) & present
    if dup.any():
        first = pd.Series(rows[present & ~dup], index=ids[present & ~dup].to_numpy())
        first_rows = first.reindex(ids[dup].to_numpy()).to_numpy()
        reasons = np.full(len(ids), "", dtype=object)
        reasons[dup] = [f"duplicate response id (first in row {r})" for r in first_rows]
        problems.add(dup, col.source, ids, reasons, "duplicate_id")
    return ids


def _fingerprints(source: Source, mapping: Mapping) -> pd.Series:
    """Ids from the content of each row (the mapped columns, by header name), so the same
    answers imported again get the same id; the k-th repeat of a row within the file gets
    ":k", so identical answers in one file are all kept."""
    columns = sorted(c.source for c in mapping.mapped())
    cells = source.frame[columns].astype("str").apply(lambda s: s.str.strip()).fillna("")
    hashed = pd.util.hash_pandas_object(cells, index=False).to_numpy(dtype=np.uint64)
    ids = pd.Series([f"{FINGERPRINT_PREFIX}{h:016x}" for h in hashed], dtype="str")
    repeat = ids.groupby(ids).cumcount().to_numpy()
    if repeat.any():
        ids = ids.where(repeat == 0, ids + ":" + pd.Series(repeat + 1).astype("str"))
    return ids.astype("str")


def _stored(ids: object, existing_ids: ExistingIds | None, bad: np.ndarray) -> np.ndarray:
    """Rows whose (valid) response id is already stored."""
    series = pd.Series(ids, dtype="str")
    if existing_ids is None:
        return np.zeros(len(series), dtype=bool)
    candidates = ~bad & series.notna().to_numpy(dtype=bool)
    out = np.zeros(len(series), dtype=bool)
    out[candidates] = existing_ids(series[candidates])
    return out


def _hashed(texts: pd.Series, salt: bytes) -> pd.Series:
    """Salted SHA-256 of each normalised value (an e-mail → the same customer id each
    import, with the address itself not stored)."""
    codes, uniques = pd.factorize(texts.astype("str").str.strip().str.casefold())
    digests = [
        "h-" + hashlib.sha256(salt + str(u).encode("utf-8")).hexdigest()[:24] for u in uniques
    ]
    return pd.Series(pd.array(digests, dtype="str").take(codes, allow_fill=True), dtype="str")


def _text(texts: pd.Series, name: str, col: ColumnMap, ctx: _Context) -> pd.Series | np.ndarray:
    """A text field or segment; a segment that already exists in the store with another
    type is checked against that type."""
    stored = ctx.types.get(name, "string")
    if name not in _STRING_FIELDS and stored not in ("string", "null") and col.to != TEXT:
        return _typed(texts, name, stored, col, ctx.problems)
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)  # clean each text once
    clean = pd.Series(uniques, dtype="str").str.strip()
    clean = clean.where(clean != "")
    canon = CANONICAL_VALUES.get(name)
    if canon:
        lookup = {v.casefold(): v for v in canon}
        folded = clean.str.casefold()
        clean = clean.where(~folded.isin(lookup), folded.map(lookup))
    if name == "channel":
        clean = clean.map(_channels, na_action="ignore")
    return pd.Series(clean.array.take(codes, allow_fill=True), dtype="str")


def _channels(text: str) -> str:
    """Channel names in the contract's words; several chosen ones ("Website; Mobile app")
    each translated, unknown names kept as written."""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    return "; ".join(dict.fromkeys(channel_name(p) or p for p in parts))


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
            "not_whole",
        )
        return pd.array(np.where(whole, nums.values, np.nan), dtype="Int64")
    if stored.startswith(("float", "decimal")):
        nums = parse_numbers(texts)
        problems.add(
            nums.invalid,
            col.source,
            texts,
            f"not a number (the stored column {name} is {stored})",
            "not_a_number",
        )
        return nums.values
    if stored.startswith(("timestamp", "date")):
        parsed = parse_dates(texts)
        problems.add(parsed.invalid, col.source, texts, parsed.reasons.astype(object), "bad_date")
        return parsed.values
    if stored == "boolean":
        words = parse_yes_no(texts)
        problems.add(
            words.invalid,
            col.source,
            texts,
            f"not yes/no (the stored column {name} is boolean)",
            "not_yes_no",
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


def _metrics(ctx: _Context) -> tuple[pd.DataFrame, np.ndarray, str | None, list[str]]:
    source, mapping, problems = ctx.source, ctx.mapping, ctx.problems
    n = len(source.frame)
    out: dict[str, object] = {}
    notes: list[str] = []
    date_order = None
    wide: list[tuple[ColumnMap, np.ndarray, np.ndarray]] = []
    for col in mapping.mapped():
        texts = source.frame[col.source]
        if col.to == "date":
            stamps, date_order, note = _dates(texts, col, ctx)
            out["date"] = stamps.astype("datetime64[D]")
            notes.append(f"{col.source}: dates read {note}")
        elif col.to in (VALUE, "target"):
            nums = parse_numbers(texts)
            problems.add(nums.invalid, col.source, texts, "not a number", "not_a_number")
            if col.to == VALUE and col.metric:
                wide.append((col, nums.values, ~nums.missing & ~nums.invalid))
            else:
                if col.to == VALUE:
                    problems.add(nums.missing, col.source, "", "missing value", "missing_value")
                out[str(col.to)] = nums.values
        else:
            values = _text(texts, str(col.to), col, ctx)
            if col.to == "metric":
                problems.add(
                    np.asarray(pd.isna(values), dtype=bool),
                    col.source,
                    "",
                    "missing metric name",
                    "missing_metric",
                )
            out[str(col.to)] = values
    if wide:
        any_value = np.zeros(n, dtype=bool)
        for _, _, present in wide:
            any_value |= present
        sources = ", ".join(c.source for c, _, _ in wide)
        problems.add(
            ~any_value & ~problems.bad, "", "", f"no value: {sources} all empty", "no_value"
        )
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
