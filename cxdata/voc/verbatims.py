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
from cxdata.voc import tables
from cxdata.voc.impact import analysed
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
    when comments_may_be_shown refuses the final narrowed set."""
    check_page_size(page_size, MAX_PAGE_SIZE)
    t = responses(store, filters)
    analysed(store, filters)  # raises NoData when nothing was computed yet
    v = store.table(tables.COMMENTS).select("response_id", "sentiment", voc_language="language")
    ct = store.table(tables.THEMES)
    ct = ct.filter(ct.theme == theme).select("response_id").distinct()
    m = t.inner_join(v, "response_id").inner_join(ct, "response_id")
    preds = [p for p in (_band_filter(m, band),) if p is not None]
    if language:
        preds.append(m.voc_language == language)
    m = m.filter(preds) if preds else m
    cols = {c: m[c] for c in ("submitted_at", "nps", "csat", "touchpoint") if c in m.columns}
    listed = m.select(
        **cols,
        language=m.voc_language,
        sentiment=m.sentiment,
        comment=m.comment,
        _total=m.response_id.count().over(ibis.window()),  # the count in the same scan
        _order=m.response_id,
    ).order_by([ibis.desc("submitted_at"), "_order"])

    def page_of(number: int) -> pd.DataFrame:
        return listed.limit(page_size, offset=(number - 1) * page_size).to_pandas()

    asked = max(1, page)
    got = page_of(asked)
    # a page past the end has no rows to carry the count: ask for the count alone
    total = int(got["_total"].iloc[0]) if len(got) else int(m.count().to_pyarrow().as_py())
    answers = total  # the final narrowed set: each of its answers has a comment of the theme
    withheld = not comments_may_be_shown(answers, bool(store.restrict))
    if withheld or total == 0:
        return VerbatimPage(
            _empty(), 0 if withheld else total, answers, 1, page_size, withheld, theme=theme
        )
    clamped = clamped_page(page, total, page_size)
    if clamped != asked:
        got = page_of(clamped)
    rows = _rows(got.drop(columns=["_total", "_order"]))
    return VerbatimPage(rows, total, answers, clamped, page_size, False, theme=theme)


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
