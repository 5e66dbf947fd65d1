"""The voice of the customer: paged comment queries and a spreadsheet-safe CSV export.

A page of comments is one LIMIT/OFFSET query plus one COUNT, both pushed down, so the
browser never receives more than a page. Comment text is returned as data; rendering it
as plain text is the caller's job (the dashboard uses a data grid, never markdown/HTML).
"""

from __future__ import annotations

import functools
import io
import operator
from collections.abc import Iterable
from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd

from cxdata import schema
from cxdata.errors import NoData, UnknownName
from cxdata.filters import Filters, in_list
from cxdata.queries import responses
from cxdata.schema import friction_event
from cxdata.store import Store

COLUMNS: tuple[str, ...] = (
    "submitted_at", "nps", "csat", "ces", "touchpoint", "journey_stage", "channel",
    "language", "comment",
)  # fmt: skip
"""The columns a comment row carries (only those present in the data are returned)."""

SCORE_BANDS: dict[str, str] = {
    "all": "All answers",
    "detractors": "Detractors (NPS 0–6)",
    "passives": "Passives (NPS 7–8)",
    "promoters": "Promoters (NPS 9–10)",
    "friction": "Friction (CES ≤ 3, CSAT ≤ 2 or NPS ≤ 6)",
    "dissatisfied": "Dissatisfied (CSAT 1–2)",
    "satisfied": "Satisfied (CSAT 4–5)",
}
SORTS: dict[str, str] = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "lowest": "Lowest NPS first",
    "highest": "Highest NPS first",
}
PAGE_SIZES: tuple[int, ...] = (25, 50, 100)
MAX_PAGE_SIZE = max(PAGE_SIZES)
EXPORT_LIMIT = 250_000
"""At most this many comments go into one CSV export (the newest first)."""
RESTRICTED_MIN_ANSWERS = 5
"""In a restricted view, comments of a selection with fewer answers are withheld (DESIGN §4);
see comments_may_be_shown for which answers count."""
WITHHELD_NOTE = (
    f"Comments are withheld: fewer than {RESTRICTED_MIN_ANSWERS} answers are left in this "
    "selection (after every filter, segment, score band, language, theme and search) in a "
    "restricted view."
)
"""What a page says instead of comments that comments_may_be_shown withholds."""

# A spreadsheet evaluates a cell that starts with one of these as a formula (OWASP CSV
# injection); tab and carriage return can also start a formula after a field separator.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CommentQuery:
    """What to look for inside the dashboard filters: plain, hashable values.

    `text` is matched case-insensitively anywhere in the comment; `languages` and
    `touchpoints` narrow the filters further (an empty tuple means no narrowing);
    `segments` are extra (dimension, value) conditions, e.g. from a heatmap cell.
    """

    text: str = ""
    band: str = "all"
    languages: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()
    segments: tuple[tuple[str, str], ...] = ()
    sort: str = "newest"

    def __post_init__(self) -> None:
        if self.band not in SCORE_BANDS:
            raise UnknownName("score band", self.band, SCORE_BANDS)
        if self.sort not in SORTS:
            raise UnknownName("sort order", self.sort, SORTS)


@dataclass(frozen=True)
class CommentPage:
    """One page of comments and the size of the whole result."""

    rows: pd.DataFrame
    total: int
    answers: int
    page: int
    page_size: int
    withheld: bool

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return page_count(self.total, self.page_size)


def comments_may_be_shown(answers: int, restricted: bool) -> bool:
    """The one small-base rule for comment text, used wherever comments are shown (the
    Feedback page, its CSV export, the comments behind a theme).

    `answers` is the size of the FINAL narrowed set: the answers left after the filters and
    every narrowing the view applies — segments, touchpoints, languages, score band, theme
    and text search (a search or a theme keeps only the answers whose text matches). In a
    restricted view (Store.restrict) fewer than RESTRICTED_MIN_ANSWERS such answers withhold
    all of their comments: counting before a narrowing would let the narrowing pick out
    fewer people than the rule allows. Unrestricted views show every comment.
    """
    return not restricted or answers >= RESTRICTED_MIN_ANSWERS


def check_page_size(page_size: int, largest: int = MAX_PAGE_SIZE) -> None:
    """Raise ValueError unless 1 <= page_size <= largest."""
    if not 1 <= page_size <= largest:
        raise ValueError(f"page size must be between 1 and {largest}, got {page_size}")


def page_count(total: int, page_size: int) -> int:
    """How many pages of `page_size` rows `total` rows fill (at least 1)."""
    return max(1, -(-total // page_size))


def clamped_page(page: int, total: int, page_size: int) -> int:
    """`page` (1-based) moved into 1..page_count(total, page_size)."""
    return min(max(1, page), page_count(total, page_size))


def _band(t: ir.Table, band: str) -> ir.BooleanValue | None:
    if band == "detractors":
        return t.nps <= 6
    if band == "passives":
        return t.nps.between(7, 8)
    if band == "promoters":
        return t.nps >= 9
    if band == "friction":
        return friction_event(t)
    if band == "dissatisfied":
        return t.csat <= 2
    if band == "satisfied":
        return t.csat >= 4
    return None


def selection(store: Store, filters: Filters, query: CommentQuery) -> ir.Table:
    """All answers inside `filters`, narrowed by the query's languages, touchpoints,
    segments and score band (the text search is not applied here)."""
    t = responses(store, filters)
    if not answer_texts(t.columns):
        raise NoData("the responses have no comment column")
    dims = set(store.dimensions())
    preds: list[ir.BooleanValue] = []
    narrowing: list[tuple[str, Iterable[str]]] = [
        ("language", query.languages),
        ("touchpoint", query.touchpoints),
        *((dim, (value,)) for dim, value in query.segments),
    ]
    for dim, values in narrowing:
        values = tuple(values)
        if not values:
            continue
        if dim not in dims:
            raise UnknownName("dimension", dim, dims)
        preds.append(in_list(t[dim], values))
    band = _band(t, query.band)
    if band is not None:
        preds.append(band.fill_null(False))
    return t.filter(preds) if preds else t


def answer_texts(columns: Iterable[str]) -> list[str]:
    """Of `columns`, the free-text ones of a response: the comment and the extra answer
    texts (`text_<name>`: a review's title, Booking-style positive / negative texts)."""
    return [c for c in columns if c == "comment" or c.startswith(schema.EXTRA_TEXT_PREFIX)]


def has_comment(t: ir.Table, text: str = "") -> ir.BooleanValue:
    """Any non-blank answer text (the comment or an extra text) that contains `text`
    (case-insensitive; empty text: any)."""
    needle = text.strip().lower()
    preds = []
    for col in answer_texts(t.columns):
        pred = t[col].notnull() & (t[col].strip().length() > 0)
        preds.append(pred & t[col].lower().contains(needle) if needle else pred)
    return functools.reduce(operator.or_, preds)


def with_comment(t: ir.Table, text: str) -> ir.Table:
    """Rows that have a non-blank comment containing `text` (case-insensitive)."""
    return t.filter(has_comment(t, text))


def _ordered(t: ir.Table, sort: str) -> ir.Table:
    # response_id breaks ties so that pages never overlap or skip rows
    tie = [t.response_id.asc()] if "response_id" in t.columns else []
    if sort == "oldest":
        return t.order_by([t.submitted_at.asc(), *tie])
    if sort == "lowest":
        return t.order_by([t.nps.asc(nulls_first=False), t.submitted_at.desc(), *tie])
    if sort == "highest":
        return t.order_by([t.nps.desc(nulls_first=False), t.submitted_at.desc(), *tie])
    return t.order_by([t.submitted_at.desc(), *tie])


def _columns(t: ir.Table) -> list[str]:
    extra = [c for c in answer_texts(t.columns) if c != "comment"]
    return [c for c in COLUMNS if c in t.columns] + extra


def _rows(expr: ir.Table) -> pd.DataFrame:
    frame = expr.to_pandas()
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"]).dt.tz_localize(None)
    for col in ("nps", "csat", "ces"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col]).astype("Int8")
    return frame


def comment_page(
    store: Store, filters: Filters, query: CommentQuery, page: int = 1, page_size: int = 25
) -> CommentPage:
    """Page `page` (1-based) of the comments matching `query` inside `filters`.

    Two pushed-down queries: one COUNT of the matching comments (with the number of
    answers in the selection) and one ordered LIMIT/OFFSET for the page. When
    comments_may_be_shown refuses the final narrowed set (the selection's answers, or with a
    text search the matching ones) the page has no rows and `withheld=True`.
    """
    check_page_size(page_size)
    base = selection(store, filters, query)
    matching = with_comment(base, query.text)
    row = (
        base.aggregate(
            answers=base.count(), total=has_comment(base, query.text).cast("int64").sum()
        )
        .to_pandas()
        .iloc[0]
    )
    answers = int(row["answers"])
    total = 0 if pd.isna(row["total"]) else int(row["total"])
    cols = _columns(matching)
    final = total if query.text.strip() else answers
    withheld = not comments_may_be_shown(final, bool(store.restrict))
    if withheld or total == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
        return CommentPage(empty, 0 if withheld else total, answers, 1, page_size, withheld)
    page = clamped_page(page, total, page_size)
    expr = (
        _ordered(matching, query.sort).select(cols).limit(page_size, offset=(page - 1) * page_size)
    )
    return CommentPage(_rows(expr), total, answers, page, page_size, withheld)


def export_frame(
    store: Store, filters: Filters, query: CommentQuery, limit: int = EXPORT_LIMIT
) -> pd.DataFrame:
    """All matching comments (at most `limit`, in the query's order) for a CSV export;
    none when comments_may_be_shown withholds the final narrowed set (as comment_page)."""
    base = selection(store, filters, query)
    matching = with_comment(base, query.text)
    if store.restrict:
        final = matching if query.text.strip() else base
        if not comments_may_be_shown(int(final.count().to_pandas()), restricted=True):
            return pd.DataFrame(columns=_columns(base))
    return _rows(_ordered(matching, query.sort).select(_columns(matching)).limit(limit))


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe.

    Cells starting with = + - @ (or a tab / carriage return) are prefixed with ', which
    spreadsheets show as text; numbers and every other value pass unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (with a BOM, so spreadsheets detect the encoding) in which
    every text cell and header is neutralised against formula injection."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_datetime64_any_dtype(
            out[col]
        ):
            out[col] = out[col].map(neutralise, na_action="ignore")
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")


def export_csv(
    store: Store, filters: Filters, query: CommentQuery, limit: int = EXPORT_LIMIT
) -> bytes:
    """The matching comments as a spreadsheet-safe CSV file."""
    return safe_csv(export_frame(store, filters, query, limit))
