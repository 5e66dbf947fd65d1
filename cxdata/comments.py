"""The voice of the customer: paged comment queries and a spreadsheet-safe CSV export.

A page of comments is one LIMIT/OFFSET query plus one COUNT, both pushed down, so the
browser never receives more than a page. Comment text is returned as data; rendering it
as plain text is the caller's job (the dashboard uses a data grid, never markdown/HTML).
"""

from __future__ import annotations

import csv
import functools
import io
import operator
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import ibis.expr.types as ir
import pandas as pd

from cxdata import schema
from cxdata.errors import NoData, UnknownName
from cxdata.filters import Filters, in_list
from cxdata.queries import responses
from cxdata.schema import friction_event
from cxdata.store import Store
from cxdata.textsafe import clean_text

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
"""At most this many comments go into one CSV file made by the dashboard (it is built in the
server's memory); a larger result is offered in parts of this size, and `python -m cxdata
comments --out FILE` streams any number to a file (write_export)."""
EXPORT_CHUNK = 50_000
"""Rows fetched and written at a time when streaming an export (bounded memory)."""
HEADER_MARK = "#"
"""The first line of an export is one cell starting with this: what the file holds."""
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

    def narrowing(self) -> list[tuple[str, tuple[str, ...]]]:
        """(dimension, values) conditions beyond the filters: languages, touchpoints and
        segments, the empty ones left out."""
        conditions = [
            ("language", self.languages),
            ("touchpoint", self.touchpoints),
            *((dim, (value,)) for dim, value in self.segments),
        ]
        return [(dim, tuple(values)) for dim, values in conditions if values]

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
    for dim, values in query.narrowing():
        if dim not in dims:
            raise UnknownName("dimension", dim, dims)
        preds.append(in_list(t[dim], values))
    band = _band(t, query.band)
    if band is not None:
        preds.append(band.fill_null(False))
    return t.filter(preds) if preds else t


def narrowed_filters(filters: Filters, query: CommentQuery) -> Filters | None:
    """`filters` with the query's languages, touchpoints and segments added as IN-lists,
    intersected with a filter on the same dimension (the same rows as `selection` before
    the score band and search); None when an intersection is empty (nothing can match).
    The Themes view reads its themes inside these, the CLI command repeats them."""
    where = {dim: set(values) for dim, values in filters.where}
    for dim, values in query.narrowing():
        wanted = set(values)
        where[dim] = where[dim] & wanted if dim in where else wanted
        if not where[dim]:
            return None
    return Filters.make(filters.start, filters.end, where)


def cli_command(filters: Filters, query: CommentQuery, out: str = "comments.csv") -> str:
    """The `python -m cxdata comments` command line that writes every comment matching
    `filters` and `query` to `out` (values shell-quoted); "" when nothing can match."""
    narrowed = narrowed_filters(filters, query)
    if narrowed is None:
        return ""
    words = ["python", "-m", "cxdata", "comments", "--out", out]
    if narrowed.start:
        words += ["--from", narrowed.start.isoformat()]
    if narrowed.end:
        words += ["--to", narrowed.end.isoformat()]
    for dim, values in narrowed.where:
        for value in values:
            words += ["--where", f"{dim}={value}"]
    if query.text.strip():
        words += ["--search", query.text.strip()]
    if query.band != "all":
        words += ["--band", query.band]
    if query.sort != "newest":
        words += ["--sort", query.sort]
    return shlex.join(words)


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
    return _typed(expr.to_pandas())


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Comment rows as the pages and exports use them: naive timestamps, integer scores
    that may be missing (Int8)."""
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


def export_columns(t: ir.Table, dimensions: Iterable[str]) -> list[str]:
    """The columns of an exported comment row, of those `t` has: response_id, submitted_at,
    the scores (nps, csat, ces), every dimension (in `dimensions`' order), the comment and
    the extra answer texts. customer_id is left out (a person's id is not needed to read
    comments)."""
    lead = ["response_id", "submitted_at", *schema.SCORE_COLUMNS]
    dims = [d for d in dimensions if d not in lead]
    wanted = [*lead, *dims, *answer_texts(t.columns)]
    return [c for c in dict.fromkeys(wanted) if c in t.columns]


def _export_rows(store: Store, filters: Filters, query: CommentQuery) -> ir.Table | None:
    """The ordered matching comments with the export columns; None when
    comments_may_be_shown withholds the final narrowed set (as comment_page)."""
    base = selection(store, filters, query)
    matching = with_comment(base, query.text)
    if store.restrict:
        final = matching if query.text.strip() else base
        if not comments_may_be_shown(int(final.count().to_pandas()), restricted=True):
            return None
    return _ordered(matching, query.sort).select(export_columns(matching, store.dimensions()))


def export_frame(
    store: Store,
    filters: Filters,
    query: CommentQuery,
    limit: int | None = EXPORT_LIMIT,
    offset: int = 0,
) -> pd.DataFrame:
    """Matching comments `offset + 1` … `offset + limit` (all with limit None), in the
    query's order, with export_columns; empty when comments are withheld."""
    rows = _export_rows(store, filters, query)
    if rows is None:
        t = selection(store, filters, query)
        return pd.DataFrame(columns=export_columns(t, store.dimensions()))
    return _rows(rows.limit(limit, offset=offset))


def matching_count(store: Store, filters: Filters, query: CommentQuery) -> int:
    """How many comments match (one pushed-down COUNT; 0 when they are withheld)."""
    return comment_page(store, filters, query, 1, 1).total


def _n(count: int) -> str:
    """A count with spaces between thousands (2 409 525): no comma, so the header line
    stays one unquoted cell."""
    return f"{count:,}".replace(",", " ")


def export_header(
    filters: Filters,
    query: CommentQuery,
    rows: int,
    total: int,
    offset: int = 0,
    restricted: bool = False,
) -> str:
    """The one-line description an export starts with (HEADER_MARK first, no line break):
    period, filters, the Feedback narrowing (search, score band, languages, touchpoints,
    segments), order, which rows of how many matching comments, and when it was made, e.g.
    `# Comments export · period 2026-08-27 to 2026-11-24 · filters: region = Oslo · score
    band: Detractors (NPS 0–6) · rows 1–2 000 of 2 000 matching comments (newest first) ·
    made 2026-11-25 10:02`. Data-derived values are cleaned of control characters."""
    start = filters.start.isoformat() if filters.start else "the first answer"
    end = filters.end.isoformat() if filters.end else "the last answer"
    parts = [f"{HEADER_MARK} Comments export", f"period {start} to {end}"]
    where = [f"{d} = {' | '.join(v)}" for d, v in filters.where]
    parts.append("filters: " + ("; ".join(where) if where else "none (all answers)"))
    if query.text.strip():
        parts.append(f'search "{query.text.strip()}"')
    if query.band != "all":
        parts.append(f"score band: {SCORE_BANDS[query.band]}")
    narrowing = query.narrowing()
    if narrowing:
        parts.append("narrowed to " + "; ".join(f"{d} = {' | '.join(v)}" for d, v in narrowing))
    if restricted:
        parts.append("only the answers this account may see")
    span = f"rows {_n(offset + 1)}–{_n(offset + rows)}" if rows else "no rows"
    parts.append(f"{span} of {_n(total)} matching comments ({SORTS[query.sort].lower()})")
    parts.append(f"made {pd.Timestamp.now():%Y-%m-%d %H:%M}")
    return " ".join(clean_text(" · ".join(parts)).split())  # one line, whatever the data


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe.

    Cells starting with = + - @ (or a tab / carriage return) are prefixed with ', which
    spreadsheets show as text; numbers and every other value pass unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells and headers are neutralised (see neutralise)."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_datetime64_any_dtype(
            out[col]
        ):
            out[col] = out[col].map(neutralise, na_action="ignore")
    return out


def safe_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV (with a BOM, so spreadsheets detect the encoding) in which
    every text cell and header is neutralised against formula injection."""
    buf = io.StringIO()
    _neutralised(frame).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")


def _header_line(text: str) -> str:
    """The description as one CSV record of one cell (quoted only when it holds a comma,
    quote or line break), so every CSV reader sees a complete first row."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text])
    return buf.getvalue()


def write_export(
    out: BinaryIO,
    store: Store,
    filters: Filters,
    query: CommentQuery,
    limit: int | None = None,
    offset: int = 0,
    chunk: int = EXPORT_CHUNK,
) -> int:
    """Write matching comments `offset + 1` … `offset + limit` (all with limit None) to
    `out` as a spreadsheet-safe UTF-8 CSV (BOM first) and return how many rows it wrote.

    Layout: line 1 is export_header as one cell starting with `#`; line 2 the column names
    (export_columns); then one row per comment. Read it back with
    `pandas.read_csv(path, skiprows=1)` or DuckDB `read_csv(path, skip=1)` — not with
    `comment="#"`, which would also cut comments at a '#'. Rows are fetched from the engine
    in batches of `chunk` (Arrow record batches), so memory stays bounded however many
    rows match. Withheld comments (comments_may_be_shown) give the two header lines only."""
    rows_expr = _export_rows(store, filters, query)
    total = 0 if rows_expr is None else matching_count(store, filters, query)
    start = min(offset, total)
    count = max(0, total - start) if limit is None else max(0, min(limit, total - start))
    header = export_header(filters, query, count, total, start, bool(store.restrict))
    out.write(("\ufeff" + _header_line(header)).encode("utf-8"))
    if rows_expr is None or count == 0:
        cols = export_columns(selection(store, filters, query), store.dimensions())
        out.write(_neutralised(pd.DataFrame(columns=cols)).to_csv(index=False).encode("utf-8"))
        return 0
    written = 0
    batches = rows_expr.limit(count, offset=start).to_pyarrow_batches(chunk_size=chunk)
    for batch in batches:
        frame = _typed(batch.to_pandas())
        text = _neutralised(frame).to_csv(index=False, header=written == 0)
        out.write(text.encode("utf-8"))
        written += len(frame)
    return written


def export_csv(
    store: Store,
    filters: Filters,
    query: CommentQuery,
    limit: int | None = EXPORT_LIMIT,
    offset: int = 0,
) -> bytes:
    """The matching comments `offset + 1` … `offset + limit` as one spreadsheet-safe CSV
    file in memory (the dashboard's download; write_export has the layout)."""
    buf = io.BytesIO()
    write_export(buf, store, filters, query, limit, offset)
    return buf.getvalue()
