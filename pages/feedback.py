"""Feedback: the comment explorer. Paged in the engine (only one page reaches the browser),
searchable, filterable by score band, language and touchpoint; comments are plain text in a
data grid (never markdown or HTML); CSV export neutralised against formula injection."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from cxdata import comments, schema
from cxdata.comments import CommentPage, CommentQuery
from pages._shared import common, exports, fmt, session, state, themes
from pages._shared.session import Ctx, context
from pages._shared.urlstate import decode_many

K_SEG = "feedback.seg"
K_PAGE = "feedback.page"
K_SIG = "_cx_feedback_sig"
SIZES = [str(s) for s in comments.PAGE_SIZES]


def segments_from_url(
    dims: Sequence[str], values: Callable[[str], Sequence[str]] | None = None
) -> None:
    """Seed the drill-down conditions (seg=dim:value) that a heatmap click carries; a
    condition on a dimension or value that is not in the data (`values(dim)`) is dropped
    with a note, never shown."""

    def known(item: str) -> bool:
        dim, sep, value = item.partition(":")
        return bool(sep) and dim in dims and (values is None or value in values(dim))

    def decode(raw: Sequence[str] | None) -> list[str]:
        return [v for v in decode_many(raw) if known(v)]

    state.seed(K_SEG, "seg", decode, lambda v: isinstance(v, list))
    state.check_adopted("seg", "Narrowed to", lambda raw: all(known(v) for v in raw))


def _drop_segment(item: str) -> None:
    state.set_value(K_SEG, [s for s in st.session_state.get(K_SEG, []) if s != item])


def segment_chips() -> tuple[tuple[str, str], ...]:
    """The drill-down conditions as removable chips; returns them as (dim, value)."""
    items: list[str] = list(st.session_state.get(K_SEG, []))
    state.publish({"seg": items} if items else {})
    if items:
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption("Narrowed to")
        for item in items:
            dim, _, value = item.partition(":")
            row.button(
                fmt.md_escape(f"{fmt.dim_label(dim)}: {value}"),
                icon=":material/close:",
                key=f"feedback.drop.{item}",
                on_click=_drop_segment,
                args=(item,),
                help="Remove this condition",
                type="tertiary",
            )
    return tuple((d, v) for d, _, v in (s.partition(":") for s in items))


def query_controls(ctx: Ctx) -> tuple[CommentQuery, int]:
    """Search, band, sort, language, touchpoint and page size → the query and page size."""
    dims = ctx.dimensions()
    segments_from_url(dims, ctx.dimension_values)
    c1, c2, c3 = st.columns([2, 1.4, 1])
    text = state.text(
        "Search comments",
        key="feedback.q",
        param="q",
        where=c1,
        placeholder="e.g. delivery, late, app…",
        help="Case-insensitive; matches anywhere in the comment.",
    )
    band = state.select(
        "Score band",
        list(comments.SCORE_BANDS),
        key="feedback.band",
        param="band",
        default="all",
        format_func=comments.SCORE_BANDS.get,
        where=c2,
    )
    sort = state.select(
        "Order",
        list(comments.SORTS),
        key="feedback.sort",
        param="sort",
        default="newest",
        format_func=comments.SORTS.get,
        where=c3,
    )
    c4, c5, c6 = st.columns([2, 1.4, 1])
    languages: list[str] = []
    if "language" in dims:
        languages = state.multi(
            "Language",
            ctx.dimension_values("language"),
            key="feedback.lang",
            param="lang",
            where=c4,
        )
    touchpoints: list[str] = []
    if "touchpoint" in dims:
        touchpoints = state.multi(
            "Touchpoint",
            ctx.dimension_values("touchpoint"),
            key="feedback.tp",
            param="tp",
            where=c5,
        )
    size = state.select(
        "Per page", SIZES, key="feedback.size", param="size", default=SIZES[0], where=c6
    )
    query = CommentQuery(
        text=text.strip(),
        band=band,
        languages=tuple(languages),
        touchpoints=tuple(touchpoints),
        segments=segment_chips(),
        sort=sort,
    )
    return query, int(size)


def query_changed(ctx: Ctx, query: CommentQuery, size: int) -> bool:
    """Whether the search or filters changed since the last run (→ back to page 1)."""
    return state.changed(K_SIG, (ctx.filters, query, size))


# Badge colour per score: (upper bound of "bad", upper bound of "middle").
_BANDS: dict[str, tuple[int, int]] = {"nps": (6, 8), "csat": (2, 3), "ces": (3, 4)}


def score_badges(row: pd.Series) -> str:
    """NPS / CSAT / CES of one answer as coloured badges (red bad, grey middle, blue good)."""
    badges = []
    for col, (bad, middle) in _BANDS.items():
        v = row.get(col)
        if v is None or pd.isna(v):
            continue
        color = "red" if v <= bad else "gray" if v <= middle else "blue"
        badges.append(f":{color}-badge[{col.upper()} {int(v)}]")
    return " ".join(badges)


def comment_cards(page: CommentPage) -> None:
    """One card per comment: scores and context (escaped) above the comment itself, which
    is written with st.text — never interpreted as markdown or HTML."""
    for i, (_, row) in enumerate(page.rows.iterrows()):
        where = [
            str(row[c])
            for c in ("touchpoint", "journey_stage", "channel", "language")
            if c in row and not pd.isna(row[c])
        ]
        when = f"{pd.Timestamp(row['submitted_at']):%-d %b %Y, %H:%M}"
        with st.container(border=True, gap="small", key=f"comment-{i}"):
            st.caption(f"{score_badges(row)} &nbsp; {fmt.md_escape(' · '.join(where))} · {when}")
            for col in answer_text_columns(row):
                if col != "comment":  # an extra answer text: say which one
                    label = col.removeprefix(schema.EXTRA_TEXT_PREFIX).replace("_", " ")
                    st.caption(fmt.md_escape(label.capitalize()))
                st.text(fmt.clean_text(row[col]))  # no bidi or control characters


def answer_text_columns(row: pd.Series) -> list[str]:
    """The comment and extra answer texts of a row that are not blank."""
    return [
        c for c in comments.answer_texts(row.index) if not pd.isna(row[c]) and str(row[c]).strip()
    ]


def export_button(ctx: Ctx, query: CommentQuery, total: int) -> None:
    """CSV of all matching comments, generated on click on its own Store (thread)."""
    store, filters = ctx.store, ctx.filters

    def make_csv() -> bytes:
        return comments.export_csv(session.fresh_store(store), filters, query)

    capped = total > comments.EXPORT_LIMIT
    label = f"Export {min(total, comments.EXPORT_LIMIT):,} comments (CSV)"
    exports.download_button(
        label,
        make_csv,
        file_name="comments.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="Cells starting with = + - @ are prefixed with ' so a spreadsheet "
        "shows them as text."
        + (f" Capped at the newest {comments.EXPORT_LIMIT:,}." if capped else ""),
    )


VIEWS: dict[str, str] = {"comments": "Comments", "themes": "Themes"}


def render() -> None:
    """The page."""
    ctx = context()
    common.header(
        "Feedback",
        ctx,
        "What customers wrote, with their scores. Comments are "
        "shown exactly as written, as plain text.",
    )
    if not common.has_answers(ctx):
        return
    view = state.select(
        "Show",
        list(VIEWS),
        key="feedback.view",
        param="view",
        default="comments",
        format_func=VIEWS.__getitem__,
        radio=True,
    )
    if view == "themes":
        themes.render(ctx)
        return
    if not comments.answer_texts(ctx.store.responses().columns):
        st.info("The data has no comment column: map one on the Data page.")
        return
    query, size = query_controls(ctx)
    changed = query_changed(ctx, query, size)
    with common.guard("The comments could not be loaded"):
        first = ctx.comment_page(query, 1, size)
        if first.withheld:
            st.warning(comments.WITHHELD_NOTE, icon=":material/visibility_off:")
            return
        if first.total == 0:
            st.info(
                f"No comments match ({first.answers:,} answers in this selection). Try "
                "another search term or score band.",
                icon=":material/search_off:",
            )
            return
        top_left, top_right = st.columns([3, 2], vertical_alignment="center")
        with top_right:
            number = state.page_number(first.pages, key=K_PAGE, reset=changed)
        page = first if number == 1 else ctx.comment_page(query, number, size)
        start = (page.page - 1) * page.page_size + 1
        top_left.markdown(
            f"**{page.total:,}** comments match · showing {start:,}–"
            f"{start + len(page.rows) - 1:,} · {page.answers:,} answers in this selection"
        )
        comment_cards(page)
        export_button(ctx, query, page.total)


render()
