"""The comments behind a theme, one page at a time.

A page is one COUNT and one ordered LIMIT/OFFSET query in the engine, so only a page of
comments ever leaves it. Text comes back as data (plain strings); showing it as plain text
— never markdown or HTML — is the caller's job. Whether comments may be shown is decided
by comments.comments_may_be_shown on the final narrowed set — the answers inside the
filters whose comment mentions the theme, after the score band and the language — so a
view that narrows further never shows what a wider count would have let through (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from cxdata.comments import (
    RESTRICTED_MIN_ANSWERS as RESTRICTED_MIN_ANSWERS,  # re-exported: the threshold in use
)
from cxdata.comments import (
    CommentPage,
    check_page_size,
    clamped_page,
    comments_may_be_shown,
)
from cxdata.errors import UnknownName
from cxdata.filters import Filters
from cxdata.queries import responses
from cxdata.store import Store
from cxdata.voc import masked, tables
from cxdata.voc.impact import analysed, counted_rows
from cxdata.voc.sentiment import score_bands, sentiment_label

BANDS: dict[str, str] = {
    "all": "All answers",
    "detractors": "Detractors (NPS 0–6)",
    "passives": "Passives (NPS 7–8)",
    "promoters": "Promoters (NPS 9–10)",
}
PAGE_SIZES: tuple[int, ...] = (10, 25, 50, 100)
MAX_PAGE_SIZE = max(PAGE_SIZES)
COLUMNS: tuple[str, ...] = (
    "submitted_at", "nps", "csat", "band", "language", "touchpoint", "sentiment",
    "sentiment_label", "comment",
)  # fmt: skip


@dataclass(frozen=True)
class VerbatimPage(CommentPage):
    """One page of a theme's comments, the number matching and the answers of the final
    narrowed set (theme, band, language: the restricted-view rule counts them; every one
    has a comment, so `answers` = the comments matching before withholding): a CommentPage
    with its theme."""

    theme: str


def _band_filter(t: ir.Table, band: str) -> ir.BooleanValue | None:
    if band not in BANDS:
        raise UnknownName("score band", band, BANDS)
    if band == "detractors":
        return (t.nps <= 6).fill_null(False)
    if band == "passives":
        return t.nps.between(7, 8).fill_null(False)
    if band == "promoters":
        return (t.nps >= 9).fill_null(False)
    return None


def theme_verbatims(
    store: Store,
    filters: Filters,
    theme: str,
    page: int = 1,
    page_size: int = 25,
    band: str = "all",
    language: str | None = None,
) -> VerbatimPage:
    """Page `page` (1-based, clamped) of the comments mentioning `theme` inside `filters`,
    newest first: submitted_at, nps, csat, band (score band: the primary sentiment label),
    language (analysed), touchpoint, sentiment (VADER compound or None), sentiment_label
    ("n/a" without a lexicon) and comment, as plain values. Withheld (no rows, total 0)
    when comments_may_be_shown refuses the final narrowed set.

    On the embedded store the theme's comments are read from the stored theme masks, and
    their number from the counts the Themes view keeps (cxdata.voc.masked): one ordered
    LIMIT query, with the comments' sentiment joined to that page only."""
    check_page_size(page_size, MAX_PAGE_SIZE)
    t = responses(store, filters)
    analysed(store, filters)  # raises NoData when nothing was computed yet
    v = store.table(tables.COMMENTS).select("response_id", "sentiment", voc_language="language")
    cols = [c for c in ("submitted_at", "nps", "csat", "touchpoint") if c in t.columns]
    newest = [ibis.desc("submitted_at"), "response_id"]
    if masked.comments_unique(store):  # the masks name the theme's comments, one per answer
        m = t.semi_join(_mentioning(store, theme), "response_id")
        if language:
            m = m.semi_join(v.filter(v.voc_language == language), "response_id")
        m = _in_band(m, band)
        listed = m.select("response_id", "submitted_at").order_by(newest)

        def page_of(number: int) -> pd.DataFrame:
            # the page's ids first, then their rows: the comments are read for them only
            ids = listed.limit(page_size, offset=(number - 1) * page_size)
            page = t.select("response_id", *cols, "comment").semi_join(ids, "response_id")
            rows = page.left_join(v, "response_id")  # (a response's own sentiment is not read)
            return _page_columns(rows, cols).order_by(newest).to_pandas()

    else:  # the theme rows (a warehouse, or a response_id repeated among the comments)
        ct = store.table(tables.THEMES)
        m = t.select("response_id", *cols, "comment").inner_join(v, "response_id").semi_join(
            ct.filter(ct.theme == theme), "response_id")
        if language:
            m = m.filter(m.voc_language == language)
        m = _in_band(m, band)
        listed = _page_columns(m, cols).order_by(newest)

        def page_of(number: int) -> pd.DataFrame:
            return listed.limit(page_size, offset=(number - 1) * page_size).to_pandas()

    total = masked.one_snapshot(
        store, lambda: _counted_total(store, filters, theme, band, language))
    got = None
    if total is None:  # the number in the same scan as the first page asked
        asked = max(1, page)
        got = page_of(asked)
        total = (asked - 1) * page_size + len(got) if 0 < len(got) < page_size else int(
            m.count().to_pyarrow().as_py())
    answers = total  # the final narrowed set: each of its answers has a comment of the theme
    withheld = not comments_may_be_shown(answers, bool(store.restrict))
    if withheld or total == 0:
        return VerbatimPage(
            _empty(), 0 if withheld else total, answers, 1, page_size, withheld, theme=theme
        )
    clamped = clamped_page(page, total, page_size)
    if got is None or clamped != max(1, page):
        got = page_of(clamped)
    rows = _rows(got.drop(columns=["response_id"]))
    return VerbatimPage(rows, total, answers, clamped, page_size, False, theme=theme)


def _in_band(t: ir.Table, band: str) -> ir.Table:
    """`t`'s answers in the score `band` (UnknownName for another)."""
    pred = _band_filter(t, band)
    return t if pred is None else t.filter(pred)


def _page_columns(t: ir.Table, cols: list[str]) -> ir.Table:
    """A page's columns (before _rows): `cols`, response_id, language, sentiment, comment."""
    return t.select(*cols, "response_id", language=t.voc_language, sentiment=t.sentiment,
                    comment=t.comment)


def _mentioning(store: Store, theme: str) -> ir.Table:
    """response_id of each analysed comment mentioning `theme` (in either source), from
    the stored theme masks (masked.stored_bits must not be None)."""
    bits = masked.stored_bits(store)
    assert bits is not None
    mk = store.table(tables.MASKS)
    found = bits[bits["theme"] == theme]
    tests = [(mk.word == int(r.word)) & (((mk.mask >> int(r.bit)) & 1) == 1)
             for r in found.itertuples(index=False)]
    return mk.filter(ibis.or_(*tests) if tests else ibis.literal(False)).select("response_id")


def _counted_total(
    store: Store, filters: Filters, theme: str, band: str, language: str | None
) -> int | None:
    """How many answers inside `filters` have an analysed comment mentioning `theme`, in
    the score `band` and the analysed `language`, from the theme counts the Themes view
    keeps (masked.kept_counts over impact.counted_rows: promoters and detractors are the
    NPS bands, passives the rest of nps_n). None when they are not kept, the masks are
    not stored or the theme is in more than one mask word (a comment in both would count
    twice)."""
    bits = masked.stored_bits(store)
    found = None if bits is None else bits[bits["theme"] == theme]
    if found is None or len(found) > 1:
        return None
    if found.empty:
        return 0
    word, bit = int(found["word"].iloc[0]), int(found["bit"].iloc[0])
    rows = counted_rows(store, filters)
    per = None if rows is None else masked.kept_counts(store, rows, ["voc_language"], [word])
    if per is None:  # not counted by the view: a count of this theme alone is cheaper
        return None
    per = per[((per["mask"].to_numpy(dtype="int64") >> bit) & 1) == 1]
    if language:
        per = per[per["voc_language"] == language]
    counts = {
        "all": per["n"],
        "promoters": per["promoters"],
        "detractors": per["detractors"],
        "passives": per["nps_n"] - per["promoters"] - per["detractors"],
    }
    return int(counts[band].sum())


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain values in COLUMNS order, with the band and sentiment labels added."""
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"]).dt.tz_localize(None)
    for col in ("nps", "csat"):
        frame[col] = pd.to_numeric(frame[col]).astype("Int8") if col in frame else pd.NA
    if "touchpoint" not in frame:
        frame["touchpoint"] = None
    frame["band"] = score_bands(frame["nps"], frame["csat"])
    frame["sentiment"] = pd.to_numeric(frame["sentiment"]).astype("float64")
    frame["sentiment_label"] = [sentiment_label(x) for x in frame["sentiment"]]
    return frame[list(COLUMNS)].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
