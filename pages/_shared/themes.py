"""The Feedback page's Themes view (voice of the customer).

`render(ctx)` draws: theme ranking by volume and by NPS impact, theme trend, theme ×
touchpoint heatmap, the verbatims of a theme (plain text, paged in the engine), the
languages with their sentiment lexicon, and the taxonomy editor; when no themes have been
computed yet, a "Compute themes" button with a progress bar. All numbers come from
cxdata.voc through the session's cached query layer (Ctx, keyed on the results' version
too); the figures are charts.theme_*; every control is in the URL (`voc.*` parameters), so
a Themes view opens from a shared link as it was. Comment text and user-edited labels are
never rendered as markdown or HTML (data grids, escaped chart labels).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from cxdata import charts, comments, fmt
from cxdata.store import Store
from cxdata.voc import impact, persist, taxonomy, verbatims
from cxdata.voc.fit import TaxonomyFit
from cxdata.voc.language import ANALYSED, language_name
from pages._shared import annotations, common, plot, state
from pages._shared.session import Ctx

K = "voc"  # the prefix of this view's widget keys and URL parameters
SOURCES: dict[str, str] = {"taxonomy": "Taxonomy themes", "auto": "Automatic themes"}
GRAINS: tuple[str, ...] = ("week", "month", "quarter")
SIZES = [str(s) for s in verbatims.PAGE_SIZES]
TREND_THEMES = 5  # themes in the trend until the user picks
MAX_HEATMAP_THEMES = 15


# --- writing: compute, update, re-match, edit the taxonomy --------------------------------


def _progress_bar(label: str) -> persist.Progress:
    """A progress bar and the callback that moves it."""
    bar = st.progress(0.0, text=label)

    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return report


def estimate_text(store: Store) -> str:
    """How long computing the waiting comments takes: the measured model of
    persist.estimated_seconds (fixed cost + per comment + per word of the distinct texts)
    for these comments, said as an idle-machine figure, never a promise."""
    work = persist.pending_workload(store)
    seconds = persist.estimated_seconds(work)
    return (
        f"They hold {work.distinct:,} distinct texts with {work.words:,} words: about "
        f"{max(5, round(seconds / 5) * 5):,} s of computing on an idle 2-core machine "
        "(measured), longer when the server is busy — the progress bar shows how far it is."
    )


def compute_section(store: Store, status: persist.VocStatus) -> None:
    """The compute / update buttons with a progress bar."""
    if not status.computed and status.pending == 0:
        st.info("There are no comments to analyse yet.", icon=":material/forum:")
        return
    if not status.computed:
        st.info(
            f"Themes have not been computed yet for the {status.pending:,} comments. "
            f"This runs once and is stored; imports update it. {estimate_text(store)}",
            icon=":material/psychology:",
        )
        if st.button(
            "Compute themes", key=f"{K}.compute", type="primary", icon=":material/play_arrow:"
        ):
            report = _progress_bar("starting")
            with st.spinner("Computing themes…"):
                persist.compute_themes(store, report)
            st.rerun()
        return
    notes = []
    if status.pending:
        notes.append(f"{status.pending:,} new or changed comments are not analysed yet")
    if status.stale:
        notes.append(f"{status.stale:,} results belong to removed or changed comments")
    if notes:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(" · ".join(notes) + ".")
        if c2.button("Update themes", key=f"{K}.update", icon=":material/refresh:"):
            report = _progress_bar("starting")
            persist.update_themes(store, report)
            st.rerun()


def rematch_section(store: Store) -> None:
    """The taxonomy changed since its themes were matched: offer to match it again."""
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.caption(
        "The taxonomy changed after its themes were matched; the taxonomy themes below "
        "follow the old keywords until they are matched again."
    )
    if c2.button("Re-match", key=f"{K}.rematch", icon=":material/sync:"):
        report = _progress_bar("re-matching")
        persist.rematch_taxonomy(store, report)
        st.rerun()


def taxonomy_section(store: Store) -> None:
    """The taxonomy as an editable grid; saving re-matches every comment (progress bar)."""
    folder = taxonomy.taxonomy_dir(store)
    with st.expander("Edit the theme taxonomy", icon=":material/edit:"):
        st.caption(
            "One row per theme; keywords per language separated by commas. A word "
            "matches all its inflections (levering → leveringen); word* = starts "
            "with, *word = ends with (compounds), two words = a phrase. Saved to "
            f"{taxonomy.taxonomy_path(folder)}."
        )
        current = taxonomy.load_taxonomy(folder)
        edited = st.data_editor(
            taxonomy.taxonomy_frame(current),
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            key=f"{K}.taxonomy",
            column_config={
                "theme": st.column_config.TextColumn("Id", help="a-z, 0-9 and _"),
                "label": st.column_config.TextColumn("Label"),
                **{lang: st.column_config.TextColumn(language_name(lang)) for lang in ANALYSED},
            },
        )
        c1, c2 = st.columns([1, 1])
        save = c1.button("Save and re-match", key=f"{K}.taxonomy.save", type="primary")
        reset = c2.button("Restore the default taxonomy", key=f"{K}.taxonomy.reset")
        if not (save or reset):
            return
        try:
            new = taxonomy.DEFAULT_TAXONOMY if reset else taxonomy.taxonomy_from_frame(edited)
        except ValueError as exc:
            st.error(f"The taxonomy was not saved: {fmt.md_escape(exc)}")
            return
        persist.edit_taxonomy(store, new, _progress_bar("re-matching"))
        st.session_state.pop(f"{K}.taxonomy", None)
        st.rerun()


# --- reading: the controls (all in the URL) and the sections ------------------------------


def _labels(frame: pd.DataFrame) -> dict[str, str]:
    """Theme id → label, in the frame's order (largest first)."""
    return dict(zip(frame["theme"], frame["label"], strict=True))


def source_control() -> str:
    """Taxonomy or automatic themes (URL: voc.source)."""
    return state.select(
        "Themes",
        list(SOURCES),
        key=f"{K}.source",
        param=f"{K}.source",
        default="taxonomy",
        format_func=SOURCES.__getitem__,
        segmented=True,
    )


def ranking_section(frame: pd.DataFrame, line: str = "") -> None:
    """Ranking by volume and by impact, side by side, with the numbers in a grid."""
    left, right = st.columns(2)
    with left:
        plot.show(
            charts.theme_volume_figure(frame), f"{K}.volume", title="Themes by volume", context=line
        )
    with right:
        plot.show(
            charts.theme_impact_figure(impact.ranked_by_impact(frame)),
            f"{K}.impact",
            title="Themes by impact on NPS",
            context=line,
        )
    tests = int(frame["comparisons"].max()) if len(frame) else 0
    st.caption(
        "Impact = NPS of answers whose comment mentions the theme − NPS of the other "
        f"analysed comments. ★ = significant {fmt.corrected(tests)}: with many themes "
        "tested at once, a plain 95% test would flag some by chance. Grey = not "
        "significant or not tested (fewer than the low-base threshold of answers on "
        "a side). Hover for n and both NPS values. A theme with fewer than the minimum "
        "of NPS answers on either side shows neither side: the other side and the NPS of "
        "all comments would give it back."
    )
    grid = frame.assign(
        languages=[", ".join(x) for x in frame["languages"]],
        significance=[charts.theme_significance(r) for _, r in frame.iterrows()],
        sentiment=[("n/a" if pd.isna(s) else f"{s:+.2f}") for s in frame["sentiment_mean"]],
    )[
        [
            "label",
            "source",
            "languages",
            "n",
            "share",
            "nps_with",
            "nps_n_with",
            "nps_without",
            "nps_n_without",
            "nps_impact",
            "t",
            "significance",
            "sentiment",
        ]
    ]
    with st.expander("All themes as a table"):
        st.dataframe(
            fmt.safe_table(grid, keep=("sentiment",)),  # labels may be words of comments
            hide_index=True,
            width="stretch",
            column_config={
                "label": st.column_config.TextColumn("Theme"),
                "share": st.column_config.NumberColumn("Share %", format="%.1f"),
                "nps_with": st.column_config.NumberColumn("NPS with", format="%.1f"),
                "nps_n_with": st.column_config.NumberColumn("n with"),
                "nps_without": st.column_config.NumberColumn("NPS without", format="%.1f"),
                "nps_n_without": st.column_config.NumberColumn("n without"),
                "nps_impact": st.column_config.NumberColumn("Impact", format="%+.1f"),
                "t": st.column_config.NumberColumn("t", format="%.2f"),
                "sentiment": st.column_config.TextColumn(
                    "Sentiment (lexicon)",
                    help="Mean VADER score of English comments; n/a "
                    "when no comment has a lexicon (other languages)",
                ),
            },
        )


def trend_section(ctx: Ctx, source: str, frame: pd.DataFrame, line: str = "") -> None:
    """Share of comments per theme over time, for themes the user picks (URL: voc.trend,
    voc.per; the largest themes until then)."""
    st.markdown("**Theme trend**")
    labels = _labels(frame)
    c1, c2 = st.columns([4, 1])
    chosen = state.multi(
        "Themes",
        list(labels),
        key=f"{K}.trend.{source}",
        param=f"{K}.trend",
        format_func=lambda t: labels.get(t, t),
        where=c1,
        placeholder="Pick themes",
        default=list(frame["theme"].head(TREND_THEMES)),
    )
    grain = state.select(
        "Per", list(GRAINS), key=f"{K}.per", param=f"{K}.per", default="month", where=c2
    )
    if not chosen:
        st.caption("Pick at least one theme.")
        return
    notes = annotations.in_view(ctx)
    trend = charts.theme_trend_figure(
        ctx.theme_trend(source, grain, chosen), grain=grain, notes=notes
    )
    plot.show(trend, f"{K}.trend", title=f"Theme trend per {grain}", context=line)
    st.caption(
        f"Share of the period's analysed comments that mention the theme. Open markers: "
        f"low base (fewer than {ctx.th.low_base} comments in the period); gaps: fewer than "
        f"{ctx.th.min_n}, no share shown (n too small). Hover for n and the NPS of those "
        "answers."
        + (" Dashed lines: annotations (added on the Trends page)." if len(notes) else "")
    )


def heatmap_section(ctx: Ctx, source: str, frame: pd.DataFrame, line: str = "") -> None:
    """Theme × touchpoint heatmap of the largest themes."""
    if "touchpoint" not in ctx.dimensions():
        return
    matrix = ctx.theme_matrix(source)
    if matrix.empty:
        st.caption("No theme is mentioned at a touchpoint in this selection.")
        return
    themes = list(frame["theme"].head(MAX_HEATMAP_THEMES))
    heat = charts.theme_heatmap_figure(matrix, themes)
    plot.show(heat, f"{K}.heatmap", title="Themes × touchpoints", context=line)
    st.caption(
        f"Cell = % of the touchpoint's analysed comments that mention the theme "
        f"(the {len(themes)} largest themes); n=… instead of a share: fewer than "
        f"{ctx.th.min_n} comments at the touchpoint. Hover for n and the NPS of those answers."
    )


def _score_text(value: Any) -> str:
    """A score as text; blank when the answer has none."""
    return "" if value is None or pd.isna(value) else str(int(value))


def verbatim_grid(page: verbatims.VerbatimPage) -> None:
    """One page of a theme's comments as a plain-text grid."""
    rows = page.rows.assign(
        nps=[_score_text(x) for x in page.rows["nps"]],
        csat=[_score_text(x) for x in page.rows["csat"]],
        band=[b if isinstance(b, str) and b else "–" for b in page.rows["band"]],
        language=[
            language_name(x) if isinstance(x, str) and x else "undetermined"
            for x in page.rows["language"]
        ],
        sentiment=[
            ("n/a" if pd.isna(s) else f"{s:+.2f} {lab}")
            for s, lab in zip(page.rows["sentiment"], page.rows["sentiment_label"], strict=True)
        ],
    ).drop(columns=["sentiment_label"])
    st.dataframe(
        fmt.safe_table(rows, keep=("sentiment",)),  # the grid's CSV download: no formulas
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(rows), 900),
        column_config={
            "submitted_at": st.column_config.DatetimeColumn("Date", format="D MMM YYYY"),
            "nps": st.column_config.TextColumn("NPS", width=48),
            "csat": st.column_config.TextColumn("CSAT", width=48),
            "band": st.column_config.TextColumn("Band"),
            "language": st.column_config.TextColumn("Language"),
            "touchpoint": st.column_config.TextColumn("Touchpoint"),
            "sentiment": st.column_config.TextColumn("Sentiment"),
            "comment": st.column_config.TextColumn("Comment", width="large"),
        },
    )


def verbatim_section(ctx: Ctx, source: str, frame: pd.DataFrame) -> None:
    """The comments of one theme, paged in the engine (URL: voc.theme, voc.band, voc.size,
    voc.pg; a new theme, band, size or filter goes back to page 1)."""
    st.markdown("**What customers wrote about a theme**")
    labels = _labels(frame)
    c1, c2, c3 = st.columns([2.2, 1.4, 1])
    theme = state.select(
        "Theme",
        list(labels),
        key=f"{K}.theme.{source}",
        param=f"{K}.theme",
        default=str(frame["theme"].iloc[0]),
        format_func=lambda t: labels.get(t, t),
        where=c1,
    )
    band = state.select(
        "Score band",
        list(verbatims.BANDS),
        key=f"{K}.band",
        param=f"{K}.band",
        default="all",
        format_func=verbatims.BANDS.__getitem__,
        where=c2,
    )
    size = state.select(
        "Per page", SIZES, key=f"{K}.size", param=f"{K}.size", default=SIZES[1], where=c3
    )
    reset = state.changed(f"_cx_{K}_sig", (ctx.filters, source, theme, band, size))
    first = ctx.theme_verbatims(theme, 1, int(size), band)
    if first.withheld:
        st.warning(comments.WITHHELD_NOTE, icon=":material/visibility_off:")
        return
    if first.total == 0:
        st.caption("No comment of this theme matches.")
        return
    top_left, top_right = st.columns([3, 2], vertical_alignment="center")
    with top_right:
        number = state.page_number(first.pages, key=f"{K}.page", param=f"{K}.pg", reset=reset)
    page = first if number == 1 else ctx.theme_verbatims(theme, number, int(size), band)
    start = (page.page - 1) * page.page_size + 1
    top_left.caption(
        f"{page.total:,} comments · page {page.page} of {page.pages:,} · showing "
        f"{start:,}–{start + len(page.rows) - 1:,}. Band = the answer's score band "
        "(primary label); sentiment = VADER for English, n/a elsewhere."
    )
    verbatim_grid(page)


def languages_section(ctx: Ctx) -> None:
    """Analysed comments per language and the sentiment lexicon each has ("n/a")."""
    langs = ctx.voc_languages()
    shown = langs.assign(
        sentiment=[("n/a" if pd.isna(s) else f"{s:+.2f}") for s in langs["sentiment_mean"]],
    )[["name", "comments", "lexicon", "sentiment"]]
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn("Language"),
            "comments": st.column_config.NumberColumn("Comments"),
            "lexicon": st.column_config.TextColumn("Sentiment lexicon"),
            "sentiment": st.column_config.TextColumn("Mean sentiment"),
        },
    )


def coverage_caption(ctx: Ctx, narrowing: comments.CommentQuery, analysed: int) -> None:
    """What the themes below are computed on: the analysed comments inside the period,
    the filters and the Feedback narrowing (touchpoint, language, drill-down), and that
    the Comments view's search and score band do not apply."""
    parts = narrowing_parts(narrowing)
    narrowed = f" · narrowed to {fmt.md_escape(' · '.join(parts))}" if parts else ""
    st.caption(
        f"Themes of the **{analysed:,}** analysed comments in "
        f"{fmt.date_range(ctx.filters.start, ctx.filters.end)} · "
        f"{fmt.filters_summary(ctx.filters)}{narrowed}. The search and score band of the "
        "Comments view do not apply here."
    )


def narrowing_parts(narrowing: comments.CommentQuery) -> list[str]:
    """The Feedback narrowing as "Touchpoint: parcel delivery"-style parts (plain text)."""
    return [f"{fmt.dim_label(dim)}: {', '.join(v)}" for dim, v in narrowing.narrowing()]


def export_context(source: str, narrowing: comments.CommentQuery) -> str:
    """The line a theme chart (and its PNG) carries: period, filters, narrowing, source."""
    parts = [plot.run_context(), *narrowing_parts(narrowing), SOURCES[source]]
    return " · ".join(p for p in parts if p)


def fit_warning(fit: TaxonomyFit) -> None:
    """Say when the taxonomy does not fit these comments (cxdata.voc.fit), and what to do."""
    if not fit.problems:
        return
    st.warning(
        "**The taxonomy may not fit these comments:** "
        + fmt.md_escape("; ".join(fit.problems))
        + ". Its theme shares can then count words used in another sense (a “return "
        "flight” as Returns & refunds). Use **Automatic themes** above, or edit the "
        "taxonomy (below) to name what these customers talk about and re-match.",
        icon=":material/rule:",
    )


def render(
    ctx: Ctx, *, can_edit: bool = True, narrowing: comments.CommentQuery | None = None
) -> None:
    """The whole view, inside the view's filters narrowed by `narrowing` (the touchpoints,
    languages and drill-down segments of the Feedback page; comments.narrowed_filters).
    Computing themes and editing the taxonomy are offered only when `can_edit` and the
    engine lets this store write themes (the analyst role, no row restriction:
    Store.may_write); the engine refuses the writes anyway."""
    can_edit = can_edit and ctx.store.may_write("import")
    narrowing = narrowing or comments.CommentQuery()
    st.subheader("Themes and their impact on NPS")
    with common.guard("The themes could not be shown"):
        status = ctx.voc_status()
        if can_edit:
            compute_section(ctx.store, status)
        if not status.computed:
            if not can_edit:
                st.info("Themes have not been computed for this data yet.")
            return
        if not status.taxonomy_current and can_edit:
            rematch_section(ctx.store)
        narrowed = comments.narrowed_filters(ctx.filters, narrowing)
        if narrowed is None:
            st.info("No answer is in both the filters and the narrowing: remove a condition.")
            return
        fit: TaxonomyFit = ctx.query("taxonomy_fit", narrowed)
        coverage_caption(ctx, narrowing, fit.comments)
        ctx = replace(ctx, filters=narrowed)
        source = source_control()
        if source == "taxonomy":
            fit_warning(fit)
        frame = ctx.theme_impact(source)
        if frame.empty:
            st.info("No analysed comment in this selection mentions a theme.")
        else:
            line = export_context(source, narrowing)
            ranking_section(frame, line)
            trend_section(ctx, source, frame, line)
            heatmap_section(ctx, source, frame, line)
            verbatim_section(ctx, source, frame)
        # lazy: its query (a join of the answers with every analysed comment) runs only
        # while the expander is open, not on every rerun of the view
        with st.expander("Languages and sentiment", key="voc.languages", on_change="rerun") as box:
            if box.open:
                languages_section(ctx)
        if can_edit:
            taxonomy_section(ctx.store)
