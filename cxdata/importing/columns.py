"""What a sample of one column's values looks like: numbers and their scale, text answers
that match a label scale, missing-answer codes, dates, personal data, ids and counts.
The suggestion (suggest.py) decides from these profiles and the column's header and
question text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxdata.importing.dates import parse_dates
from cxdata.importing.names import tokens
from cxdata.importing.numbers import MISSING_TOKENS, parse_numbers
from cxdata.importing.vocab import LabelScale, label_key, vocabulary

SAMPLE_ROWS = 50_000
LABEL_CANDIDATES = 200
"""Only a column's most frequent texts are compared with answer labels and missing codes."""
RATING_SCALES: tuple[int, ...] = (5, 7, 10)
_EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6 = r"(?=.*:)[0-9A-Fa-f:]{6,39}"
_PHONE = r"\+\d[\d \-()]{6,18}"
_USER_AGENT = r"(?:Mozilla|Opera|Dalvik)/\d.*"
# Header words of columns that count or measure something: never ratings.
COUNT_WORDS = frozenset(
    [
        "count",
        "counts",
        "likes",
        "like",
        "votes",
        "helpful",
        "reviews",
        "review_count",
        "duration",
        "seconds",
        "minutes",
        "sekunder",
        "minutter",
        "progress",
        "percent",
        "pct",
        "amount",
        "price",
        "cost",
        "sum",
        "total",
        "antall",
        "antal",
        "number",
        "no",
        "nr",
        "num",
        "qty",
        "quantity",
        "age",
        "year",
        "years",
        "version",
    ]
)
ID_WORDS = frozenset(["id", "ids", "uuid", "guid", "key", "token", "code", "nr", "no", "number"])


@dataclass(frozen=True)
class ColumnProfile:
    """What a sample (up to 50,000 rows) of a column holds. Counts are of non-empty cells;
    shares are of the cells that are not missing-answer codes."""

    filled: int
    numeric: float
    integer: float
    low: float
    high: float
    distinct: int
    dates: float
    text_length: float
    unique: float
    words: float
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    examples: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    labels: LabelScale | None = None
    label_values: dict[str, float] = field(default_factory=dict)
    label_none: tuple[str, ...] = ()
    personal: str | None = None
    rows: int = 0

    @property
    def complete(self) -> bool:
        """A value in every row of the sample (an id column must be)."""
        return self.filled > 0 and self.filled == self.rows

    def share_within(self, low: float, high: float) -> float:
        """Share of the numeric values inside [low, high] (1.0 when there are none)."""
        if len(self.numbers) == 0:
            return 1.0
        return float(np.mean((self.numbers >= low) & (self.numbers <= high)))

    @property
    def rating_like(self) -> bool:
        """Numbers on a small scale within 0–10 (whole, or decimals such as 7.5); a few
        typos (an 11, a 12) do not make it another kind of column."""
        within = self.share_within(0, 10) >= (0.8 if self.filled >= 30 else 0.5)
        few = self.distinct <= 40 or self.integer < 0.98  # decimals (7.5) have many values
        return self.filled > 0 and self.numeric >= 0.95 and within and few and not self.counter

    @property
    def counter(self) -> bool:
        """Whole numbers 1, 2, 3 … n, one per row: a row counter or a sequential id."""
        values = self.numbers
        return (
            len(values) >= 10
            and self.integer >= 0.99
            and self.unique >= 0.99
            and bool(
                np.array_equal(np.sort(values), np.arange(values.min(), values.min() + len(values)))
            )
        )

    @property
    def whole_unique(self) -> bool:
        """Whole numbers, one per row: ids or counts, not answers."""
        return self.numeric >= 0.99 and self.integer >= 0.99 and self.unique >= 0.99

    @property
    def free_text(self) -> bool:
        """Text people wrote: mostly words, long or varied."""
        return (
            self.filled > 0
            and self.numeric < 0.5
            and self.words >= 0.5
            and (self.text_length >= 25 or (self.unique >= 0.5 and self.text_length >= 12))
        )


_EMPTY = ColumnProfile(0, 0.0, 0.0, np.nan, np.nan, 0, 0.0, 0.0, 0.0, 0.0)


def profile_column(texts: pd.Series) -> ColumnProfile:
    """Profile a column of text cells (the first 50,000 rows)."""
    sample = texts.iloc[:SAMPLE_ROWS]
    values = sample.dropna().astype("str").str.strip()
    values = values[values != ""]
    if values.empty:
        return _EMPTY
    # Codes and answer labels are among the most frequent texts: only those are folded
    # (a column of 50,000 distinct timestamps or comments costs no folding).
    frequent = values.value_counts().index[:LABEL_CANDIDATES]
    uniques = pd.Series(frequent, dtype="str")
    keys = uniques.map(label_key)
    vocab = vocabulary()
    is_missing = keys.isin(vocab.missing_texts) | uniques.str.lower().isin(MISSING_TOKENS)
    missing = list(uniques[is_missing])
    rest = values[~values.isin(missing)]
    nums = parse_numbers(rest)
    valid = nums.values[~nums.missing & ~nums.invalid]
    codes = _numeric_codes(valid, vocab.missing_numbers)
    if codes:
        missing += [t for t in uniques if _number_or_none(t) in codes]
        valid = valid[~np.isin(valid, codes)]
        rest = rest[~rest.isin(missing)]
    answered = max(len(rest), 1)
    numeric = len(valid) / answered
    common, counts = np.unique(valid, return_counts=True)
    if len(valid) >= 50:  # a stray typo (an 11 among 0–10 answers) does not set the scale
        common = common[counts >= 0.01 * len(valid)]
    scale, label_values, label_none = _label_scale(rest)
    distinct_text = rest.nunique()
    return ColumnProfile(
        filled=len(values),
        numeric=numeric,
        integer=float(np.mean(valid == np.floor(valid))) if len(valid) else 0.0,
        low=float(common.min()) if len(common) else np.nan,
        high=float(common.max()) if len(common) else np.nan,
        distinct=len(common) if numeric >= 0.95 else int(distinct_text),
        dates=_date_share(rest, valid, numeric),
        text_length=float(rest.str.len().mean()) if len(rest) else 0.0,
        unique=distinct_text / answered,
        words=float(rest.str.contains(r"[^\W\d_]{2,}", regex=True).mean()) if len(rest) else 0.0,
        numbers=valid,
        examples=tuple(pd.unique(rest)[:3]),
        missing=tuple(missing),
        labels=scale,
        label_values=label_values,
        label_none=label_none,
        personal=_personal_by_values(rest),
        rows=len(sample),
    )


def _number_or_none(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def _numeric_codes(valid: np.ndarray, codes: tuple[float, ...]) -> list[float]:
    """Codes such as −1, 98, 99 that lie outside the scale the other answers are on."""
    found = [c for c in codes if np.any(valid == c)]
    others = valid[~np.isin(valid, found)]
    if not found or not len(others) or others.min() < 0 or others.max() > 10:
        return []
    return found


def _label_scale(
    rest: pd.Series,
) -> tuple[LabelScale | None, dict[str, float], tuple[str, ...]]:
    """The label scale that reads at least 90% of the answers, with the value of each
    distinct answer text found and the texts meaning "no rating"; ties go to the scale with
    more of its labels present."""
    if rest.empty:
        return None, {}, ()
    counts = rest.value_counts()
    total = counts.sum()
    counts = counts.iloc[:LABEL_CANDIDATES]  # a label scale covers 90% with few texts
    keys = pd.Series(counts.index.map(label_key), index=counts.index)
    best: tuple[float, int, LabelScale] | None = None
    for scale in vocabulary().labels:
        values = scale.values()
        known = keys.isin(values) | keys.isin(scale.none)
        share = float(counts[known.to_numpy()].sum() / total)
        hits = int(keys.isin(values).sum())
        if share >= 0.9 and hits and (best is None or (share, hits) > best[:2]):
            best = (share, hits, scale)
    if best is None:
        return None, {}, ()
    scale = best[2]
    values = scale.values()
    found = {str(text): float(values[key]) for text, key in keys.items() if key in values}
    return scale, found, tuple(str(t) for t, key in keys.items() if key in scale.none)


def _date_share(rest: pd.Series, valid: np.ndarray, numeric: float) -> float:
    if rest.empty:
        return 0.0
    if numeric >= 0.95 and not _epoch_like(valid):
        return 0.0
    parsed = parse_dates(rest.iloc[:2000].reset_index(drop=True))
    return float(np.mean(~parsed.invalid))


def _epoch_like(values: np.ndarray) -> bool:
    return len(values) > 0 and bool(np.all((values >= 1e8) & (values < 1e13)))


def _personal_by_values(rest: pd.Series) -> str | None:
    """The kind of personal data most of the values are (e-mail, IP address, phone, user
    agent), or None."""
    if rest.empty:
        return None
    sample = rest.iloc[:2000]
    for kind, pattern in (
        ("email", _EMAIL),
        ("ip_address", f"(?:{_IPV4}|{_IPV6})"),
        ("phone", _PHONE),
        ("user_agent", _USER_AGENT),
    ):
        if sample.str.fullmatch(pattern).mean() >= 0.8:
            return kind
    return None


def personal_by_header(header: str, question: str = "") -> str | None:
    """The kind of personal data a header names (e-mail, name, phone, IP address, user
    agent, street address), or None."""
    for text in (header, question):
        words = tokens(text)
        for kind, aliases in vocabulary().personal.items():
            if words and aliases.match(words) == 2:
                return kind
    return None


def declared_scale(text: str) -> tuple[int, int] | None:
    """A scale written in a header or question: "(0-10)", "1 to 10", "1–5"."""
    found = re.search(
        r"(?<![\d.])(0|1)\s*(?:-|–|—|to|til|till|do|bis|a)\s*(4|5|7|10)(?![\d.])", text
    )
    return (int(found.group(1)), int(found.group(2))) if found else None


def observed_scale(p: ColumnProfile) -> tuple[int, int]:
    """The usual scale that holds the values seen: 0 or 1 up to 5, 7 or 10."""
    low = 0 if p.low == 0 else 1
    high = next((s for s in RATING_SCALES if p.high <= s), 10)  # above 10: typos, rejected
    return (low, 1) if p.high <= 1 else (low, high)


def scale_text(scale: tuple[int, int]) -> str:
    """'1–5'."""
    return f"{scale[0]}–{scale[1]}"


def seen_in_values(p: ColumnProfile) -> str:
    """What a column's values look like, for the mapping step: "whole numbers 0–10",
    "answer labels (satisfaction 1-5)", "text (12 different)", "empty"."""
    if not p.filled:
        return "empty"
    if p.numeric >= 0.95 and not np.isnan(p.low):
        kind = "whole numbers" if p.integer >= 0.99 else "numbers with decimals"
        if p.rating_like:
            return f"{kind} {scale_text(observed_scale(p))}"
        return f"{kind} {_number(p.low)}–{_number(p.high)}"
    if p.labels is not None:
        return f"answer labels ({p.labels.name})"
    if p.dates >= 0.9:
        return "dates"
    return f"text ({p.distinct:,} different)"


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"
