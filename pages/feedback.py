"""Feedback: the comment explorer. Paged in the engine (only one page reaches the browser),
searchable, filterable by score band, language and touchpoint; comments are plain text in a
data grid (never markdown or HTML); CSV export neutralised against formula injection."""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from cxdata import comments, fmt, schema
from cxdata.comments import CommentPage, CommentQuery
from cxdata.urlstate import decode_many
from pages._shared import common, exports, session, state, themes
from pages._shared.session import Ctx, context

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
    narrowing = narrowing_controls(ctx, c4, c5)
    size = state.select(
        "Per page", SIZES, key="feedback.size", param="size", default=SIZES[0], where=c6
    )
    query = CommentQuery(
        text=text.strip(),
        band=band,
        languages=narrowing.languages,
        touchpoints=narrowing.touchpoints,
        segments=narrowing.segments,
        sort=sort,
    )
    return query, int(size)


def narrowing_controls(ctx: Ctx, lang_where: Any, tp_where: Any) -> CommentQuery:
    """Language and touchpoint pickers (URL: lang, tp) and the drill-down chips (seg), the
    narrowing both views honour, as a CommentQuery with only those fields set."""
    dims = ctx.dimensions()
    segments_from_url(dims, ctx.dimension_values)
    languages: list[str] = []
    if "language" in dims:
        languages = state.multi(
            "Language",
            ctx.dimension_values("language"),
            key="feedback.lang",
            param="lang",
            where=lang_where,
        )
    touchpoints: list[str] = []
    if "touchpoint" in dims:
        touchpoints = state.multi(
            "Touchpoint",
            ctx.dimension_values("touchpoint"),
            key="feedback.tp",
            param="tp",
            where=tp_where,
        )
    return CommentQuery(
        languages=tuple(languages), touchpoints=tuple(touchpoints), segments=segment_chips()
    )


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


def export_part(total: int, limit: int = comments.EXPORT_LIMIT) -> int:
    """The 0-based row offset of the part of a large export the user picks (URL:
    export_part); one file holds at most `limit` comments, so a larger result is split into
    parts, and the page says so with the command that writes all of them at once."""
    parts = comments.page_count(total, limit)
    if parts == 1:
        return 0
    spans = {
        str(i): f"{i * limit + 1:,}–{min((i + 1) * limit, total):,}" for i in range(parts)
    }
    part = state.select(
        "Rows to export",
        list(spans),
        key="feedback.export_part",
        param="export_part",
        default="0",
        format_func=spans.__getitem__,
    )
    return int(part) * limit


def export_button(ctx: Ctx, query: CommentQuery, total: int) -> None:
    """CSV of the matching comments (response id, date, scores, every dimension, the
    texts; a first line saying period, filters and which rows), made on click on its own
    Store (thread). Above EXPORT_LIMIT the page states the cap, offers the rest in parts
    and shows the CLI command that streams every comment to one file."""
    store, filters = ctx.store, ctx.filters
    offset = export_part(total)
    rows = min(total - offset, comments.EXPORT_LIMIT)

    def make_csv() -> bytes:
        return comments.export_csv(session.fresh_store(store), filters, query, rows, offset)

    capped = total > comments.EXPORT_LIMIT
    label = (
        f"Export comments {offset + 1:,}–{offset + rows:,} of {total:,} (CSV)"
        if capped
        else f"Export {total:,} comments (CSV)"
    )
    exports.download_button(
        label,
        make_csv,
        file_name=f"comments_{offset + 1}-{offset + rows}.csv" if capped else "comments.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        help="Line 1 says the period, filters and rows (starts with #: skip it when "
        "reading, e.g. pandas.read_csv(f, skiprows=1)); then one row per comment with its "
        "response id, date, scores and every dimension. Cells starting with = + - @ are "
        "prefixed with ' so a spreadsheet shows them as text.",
    )
    if capped:
        st.caption(
            f"{total:,} comments match; one file from the dashboard holds at most "
            f"{comments.EXPORT_LIMIT:,}, so they come in parts of that size "
            f"({comments.SORTS[query.sort].lower()}: pick the rows above). All of them in "
            "one file, from the command line on the server:"
        )
        st.code(comments.cli_command(filters, query), language="bash", wrap_lines=True)


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
        c1, c2, _ = st.columns([2, 1.4, 1])
        themes.render(ctx, narrowing=narrowing_controls(ctx, c1, c2))
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
