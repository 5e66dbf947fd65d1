"""Voice-of-the-customer panel for the Feedback page (not a page of its own).

`render_voc(store, filters)` draws: theme ranking by volume and by NPS impact, theme trend,
theme × touchpoint heatmap, the verbatims of a theme (plain text, paged in the engine), the
languages with their sentiment lexicon, and the taxonomy editor; when no themes have been
computed yet, a "Compute themes" button with a progress bar. All numbers come from
cxdata.voc; this module only lays them out. Comment text and user-edited labels are never
rendered as markdown or HTML (data grids, st.text, escaped chart labels).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cxdata import comments, config
from cxdata.config import Thresholds
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.store import Store
from cxdata.voc import impact, persist, taxonomy, verbatims
from cxdata.voc.language import ANALYSED, language_name
from pages._shared import fmt

GOOD, BAD, NEUTRAL = "#2F6FD0", "#D4573B", "#8D96A5"
SHARE_SCALE = [[0.0, "#EDE6D6"], [1.0, "#3A6FD8"]]
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
SOURCE_LABELS = {"taxonomy": "Taxonomy themes", "auto": "Automatic themes"}
MAX_BARS = 20
MAX_HEATMAP_THEMES = 15
_CACHE = {"show_spinner": False, "max_entries": 128}


def plain(text: object) -> str:
    """A label safe inside a Plotly figure: <, >, & and $ escaped (Plotly reads a few tags),
    bidi and control characters removed."""
    return fmt.plotly_escape(text)


# --- cached engine calls (plain-value keys; `_store` is not hashed) ----------------------


def _key(store: Store, data_key: Hashable | None) -> tuple[object, ...]:
    restrict = tuple(sorted((k, tuple(v)) for k, v in store.restrict.items()))
    version = data_key if data_key is not None else persist.results_version(store)
    return (store.location, restrict, version)


@st.cache_data(**_CACHE)
def _status(_store: Store, key: tuple[object, ...]) -> persist.VocStatus:
    return persist.voc_status(_store)


@st.cache_data(**_CACHE)
def _impact(
    _store: Store, key: tuple[object, ...], f: Filters, source: str, th: Thresholds
) -> pd.DataFrame:
    return impact.theme_impact(_store, f, source, th)


@st.cache_data(**_CACHE)
def _trend(
    _store: Store,
    key: tuple[object, ...],
    f: Filters,
    source: str,
    grain: str,
    themes: tuple[str, ...],
    th: Thresholds,
) -> pd.DataFrame:
    return impact.theme_trend(_store, f, grain, list(themes), source, th)


@st.cache_data(**_CACHE)
def _matrix(
    _store: Store, key: tuple[object, ...], f: Filters, source: str, th: Thresholds
) -> pd.DataFrame:
    return impact.theme_matrix(_store, f, "touchpoint", source, th)


@st.cache_data(**_CACHE)
def _languages(_store: Store, key: tuple[object, ...], f: Filters) -> pd.DataFrame:
    return impact.voc_languages(_store, f)


# --- figures -----------------------------------------------------------------------------


def _sig_text(row: pd.Series) -> str:
    if row.get("hidden", False):
        return fmt.hidden()
    if row["suppressed"]:
        return "n too small"
    if row["low_base"] or row["significant"] is pd.NA:
        return "low base, not tested"
    return "significant (95%)" if bool(row["significant"]) else "not significant"


def volume_figure(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars: mentions per theme (largest on top), share and n in the hover."""
    top = frame.head(MAX_BARS).iloc[::-1]
    hover = [
        f"{plain(r['label'])}<br>{int(r['n']):,} mentions · {r['share']:.1f}% of "
        f"{int(r['comments']):,} comments<br>NPS with {_nps_with(r)} "
        f"(n = {int(r['nps_n_with']):,})"
        for _, r in top.iterrows()
    ]
    texts = [f"{int(n):,} · {s:.1f}%" for n, s in zip(top["n"], top["share"], strict=True)]
    return _theme_bars(top["label"], top["n"], GOOD, texts, hover, "comments mentioning the theme")


def _pts(v: float) -> str:
    return "n too small" if pd.isna(v) else f"{v:+.1f}"


def _nps_with(r: pd.Series) -> str:
    """NPS with the theme for a hover: the value, "n too small", or why it is hidden."""
    return fmt.hidden() if r.get("hidden", False) else _pts(r["nps_with"])


def _theme_bars(
    labels: pd.Series,
    x: pd.Series,
    colour: str | list[str],
    texts: list[str],
    hover: list[str],
    x_title: str,
) -> go.Figure:
    """Horizontal bars, one per theme (the first row at the bottom), 26 px a bar."""
    fig = go.Figure(
        go.Bar(
            x=x,
            y=[plain(label) for label in labels],
            orientation="h",
            marker_color=colour,
            text=texts,
            textposition="auto",
            hovertext=hover,
            hoverinfo="text",
        )
    )
    fig.update_layout(
        height=max(240, 26 * len(labels) + 60),
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        xaxis_title=x_title,
    )
    return fig


def _mentions(r: pd.Series) -> str:
    """Hover lines of a theme cell: mentions of the comments, and NPS with the theme."""
    return (
        f"{int(r['n']):,} of {int(r['comments']):,} comments ({r['share']:.1f}%)<br>"
        f"NPS with {_nps_with(r)} (n = {int(r['nps_n_with']):,})"
    )


def impact_figure(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars: NPS with − NPS without per theme, most negative on top; colour =
    direction when significant, grey when not (or not tested); ★ marks significance."""
    ranked = impact.ranked_by_impact(frame)
    ranked = ranked[~ranked["suppressed"]].head(MAX_BARS).iloc[::-1]
    colours, texts, hover = [], [], []
    for _, r in ranked.iterrows():
        sig = r["significant"] is not pd.NA and bool(r["significant"]) and not r["low_base"]
        colours.append((BAD if r["nps_impact"] < 0 else GOOD) if sig else NEUTRAL)
        texts.append(f"{r['nps_impact']:+.1f}{' ★' if sig else ''} (n={int(r['n']):,})")
        t = "" if pd.isna(r["t"]) else f" · t = {r['t']:.2f}"
        hover.append(
            f"{plain(r['label'])}<br>NPS with {_pts(r['nps_with'])} "
            f"(n = {int(r['nps_n_with']):,}) vs without {_pts(r['nps_without'])} "
            f"(n = {int(r['nps_n_without']):,})<br>impact {r['nps_impact']:+.1f} points{t} · "
            f"{_sig_text(r)}"
        )
    fig = _theme_bars(
        ranked["label"],
        ranked["nps_impact"],
        colours,
        texts,
        hover,
        "NPS impact (points): with the theme − without",
    )
    fig.add_vline(x=0, line_width=1, line_color=NEUTRAL)
    return fig


def trend_figure(frame: pd.DataFrame) -> go.Figure:
    """Share of comments mentioning each theme per period; hover: n, comments, NPS."""
    fig = go.Figure()
    for label, g in frame.groupby("label", sort=False):
        g = g.sort_values("period")
        hover = [
            f"{plain(label)} · {pd.Timestamp(r['period']):%b %Y}<br>{_mentions(r)}"
            for _, r in g.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                x=g["period"],
                y=g["share"],
                mode="lines+markers",
                name=plain(label),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_layout(
        height=360,
        margin={"l": 8, "r": 8, "t": 36, "b": 8},
        yaxis_title="% of comments",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )
    return fig


def heatmap_figure(frame: pd.DataFrame, themes: list[str]) -> go.Figure:
    """Theme × touchpoint: colour = % of the touchpoint's comments mentioning the theme;
    hover: n, comments and NPS with the theme."""
    cells = frame[frame["theme"].isin(themes)]
    labels = dict(zip(cells["theme"], cells["label"], strict=False))
    order = [t for t in themes if t in labels]
    touchpoints = sorted(cells["touchpoint"].astype(str).unique())
    z = np.full((len(order), len(touchpoints)), np.nan)
    text = [["" for _ in touchpoints] for _ in order]
    hover = [["no mention" for _ in touchpoints] for _ in order]
    row = {t: i for i, t in enumerate(order)}
    col = {t: j for j, t in enumerate(touchpoints)}
    for _, r in cells.iterrows():
        i, j = row[r["theme"]], col[str(r["touchpoint"])]
        z[i, j] = r["share"]
        text[i][j] = "&lt;1" if r["share"] < 0.5 else f"{r['share']:.0f}"
        hover[i][j] = f"{plain(r['label'])} at {plain(r['touchpoint'])}<br>{_mentions(r)}"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[plain(t) for t in touchpoints],
            y=[plain(labels[t]) for t in order],
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale=SHARE_SCALE,
            colorbar={"title": "% of comments"},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=max(300, 28 * len(order) + 140),
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        yaxis={"autorange": "reversed"},
    )
    return fig


# --- sections ----------------------------------------------------------------------------


def _progress_bar(label: str) -> persist.Progress:
    """A progress bar and the callback that moves it."""
    bar = st.progress(0.0, text=label)

    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return report


def compute_section(store: Store, status: persist.VocStatus, key: str) -> None:
    """The compute / update buttons with a progress bar."""
    if not status.computed and status.pending == 0:
        st.info("There are no comments to analyse yet.", icon=":material/forum:")
        return
    if not status.computed:
        st.info(
            f"Themes have not been computed yet for the {status.pending:,} comments. "
            "This runs once (about 10 s per 100,000 comments) and is stored; imports "
            "update it.",
            icon=":material/psychology:",
        )
        if st.button(
            "Compute themes", key=f"{key}.compute", type="primary", icon=":material/play_arrow:"
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
        if c2.button("Update themes", key=f"{key}.update", icon=":material/refresh:"):
            report = _progress_bar("starting")
            persist.update_themes(store, report)
            st.rerun()


def rematch_section(store: Store, key: str) -> None:
    """The taxonomy changed since its themes were matched: offer to match it again."""
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.caption(
        "The taxonomy changed after its themes were matched; the taxonomy themes below "
        "follow the old keywords until they are matched again."
    )
    if c2.button("Re-match", key=f"{key}.rematch", icon=":material/sync:"):
        report = _progress_bar("re-matching")
        persist.rematch_taxonomy(store, report)
        st.rerun()


def ranking_section(frame: pd.DataFrame, key: str) -> None:
    """Ranking by volume and by impact, side by side, with the numbers in a grid."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Themes by volume**")
        st.plotly_chart(volume_figure(frame), key=f"{key}.volume", config=CONFIG, theme="streamlit")
    with right:
        st.markdown("**Themes by impact on NPS**")
        st.plotly_chart(impact_figure(frame), key=f"{key}.impact", config=CONFIG, theme="streamlit")
    st.caption(
        "Impact = NPS of answers whose comment mentions the theme − NPS of the other "
        "analysed comments. ★ = significant at 95% (|t| > 1.96); grey = not "
        "significant or not tested (fewer than the low-base threshold of answers on "
        "a side). Hover for n and both NPS values. A theme with fewer than the minimum "
        "of NPS answers on either side shows neither side: the other side and the NPS of "
        "all comments would give it back."
    )
    grid = frame.assign(
        languages=[", ".join(x) for x in frame["languages"]],
        significance=[_sig_text(r) for _, r in frame.iterrows()],
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


def trend_section(
    store: Store,
    k: tuple[object, ...],
    filters: Filters,
    source: str,
    th: Thresholds,
    frame: pd.DataFrame,
    key: str,
) -> None:
    """Share of comments per theme over time, for themes the user picks."""
    st.markdown("**Theme trend**")
    labels = dict(zip(frame["theme"], frame["label"], strict=True))
    c1, c2 = st.columns([4, 1])
    chosen = c1.multiselect(
        "Themes",
        list(labels),
        default=list(frame["theme"].head(5)),
        format_func=lambda t: fmt.clean_text(labels.get(t, t)),
        key=f"{key}.trend.themes.{source}",
    )
    grain = c2.selectbox("Per", ["week", "month", "quarter"], index=1, key=f"{key}.trend.grain")
    if not chosen:
        st.caption("Pick at least one theme.")
        return
    trend = _trend(store, k, filters, source, grain, tuple(chosen), th)
    st.plotly_chart(trend_figure(trend), key=f"{key}.trend", config=CONFIG, theme="streamlit")


def heatmap_section(
    store: Store,
    k: tuple[object, ...],
    filters: Filters,
    source: str,
    th: Thresholds,
    frame: pd.DataFrame,
    key: str,
) -> None:
    """Theme × touchpoint heatmap of the largest themes."""
    if "touchpoint" not in store.dimensions():
        return
    st.markdown("**Themes × touchpoints**")
    matrix = _matrix(store, k, filters, source, th)
    if matrix.empty:
        st.caption("No theme is mentioned at a touchpoint in this selection.")
        return
    themes = list(frame["theme"].head(MAX_HEATMAP_THEMES))
    st.plotly_chart(
        heatmap_figure(matrix, themes), key=f"{key}.heatmap", config=CONFIG, theme="streamlit"
    )
    st.caption(
        f"Cell = % of the touchpoint's analysed comments that mention the theme "
        f"(the {len(themes)} largest themes). Hover for n and the NPS of those answers."
    )


def _score_text(value: Any) -> str:
    """A score as text; blank when the answer has none."""
    return "" if value is None or pd.isna(value) else str(int(value))


def verbatim_section(
    store: Store, filters: Filters, source: str, frame: pd.DataFrame, key: str
) -> None:
    """The comments of one theme, paged in the engine, as a plain-text grid."""
    st.markdown("**What customers wrote about a theme**")
    labels = dict(zip(frame["theme"], frame["label"], strict=True))
    c1, c2, c3, c4 = st.columns([2.2, 1.4, 1, 0.8])
    theme = c1.selectbox(
        "Theme",
        list(labels),
        format_func=lambda t: fmt.clean_text(labels.get(t, t)),
        key=f"{key}.verb.theme.{source}",
    )
    band = c2.selectbox(
        "Score band", list(verbatims.BANDS), format_func=verbatims.BANDS.get, key=f"{key}.verb.band"
    )
    size = c3.selectbox("Per page", verbatims.PAGE_SIZES, index=1, key=f"{key}.verb.size")
    signature = (filters, theme, band, size)
    if st.session_state.get(f"{key}.verb.sig") != signature:
        st.session_state[f"{key}.verb.sig"] = signature
        st.session_state[f"{key}.verb.page"] = 1
    page_no = int(c4.number_input("Page", min_value=1, step=1, key=f"{key}.verb.page"))
    page = verbatims.theme_verbatims(store, filters, theme, page_no, int(size), band)
    if page.withheld:
        st.warning(comments.WITHHELD_NOTE, icon=":material/visibility_off:")
        return
    if page.total == 0:
        st.caption("No comment of this theme matches.")
        return
    start = (page.page - 1) * page.page_size + 1
    st.caption(
        f"{page.total:,} comments · page {page.page} of {page.pages:,} · showing "
        f"{start:,}–{start + len(page.rows) - 1:,}. Band = the answer's score band "
        "(primary label); sentiment = VADER for English, n/a elsewhere."
    )
    rows = page.rows.assign(
        nps=[_score_text(x) for x in page.rows["nps"]],
        csat=[_score_text(x) for x in page.rows["csat"]],
        band=[b if isinstance(b, str) and b else "–" for b in page.rows["band"]],
        language=[language_name(x) if isinstance(x, str) and x else "undetermined"
                  for x in page.rows["language"]],
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


def languages_section(store: Store, k: tuple[object, ...], filters: Filters) -> None:
    """Analysed comments per language and the sentiment lexicon each has ("n/a")."""
    langs = _languages(store, k, filters)
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


def taxonomy_section(store: Store, key: str) -> None:
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
            key=f"{key}.taxonomy",
            column_config={
                "theme": st.column_config.TextColumn("Id", help="a-z, 0-9 and _"),
                "label": st.column_config.TextColumn("Label"),
                **{lang: st.column_config.TextColumn(language_name(lang)) for lang in ANALYSED},
            },
        )
        c1, c2 = st.columns([1, 1])
        save = c1.button("Save and re-match", key=f"{key}.taxonomy.save", type="primary")
        reset = c2.button("Restore the default taxonomy", key=f"{key}.taxonomy.reset")
        if not (save or reset):
            return
        try:
            new = taxonomy.DEFAULT_TAXONOMY if reset else taxonomy.taxonomy_from_frame(edited)
        except ValueError as exc:
            st.error(f"The taxonomy was not saved: {fmt.md_escape(exc)}")
            return
        persist.edit_taxonomy(store, new, _progress_bar("re-matching"))
        st.session_state.pop(f"{key}.taxonomy", None)
        st.rerun()


def render_voc(
    store: Store,
    filters: Filters,
    th: Thresholds | None = None,
    *,
    key: str = "voc",
    data_key: Hashable | None = None,
    can_edit: bool = True,
) -> None:
    """The whole panel. `data_key` (optional) is the page's own cache key of the data; the
    results' version is added to it. Computing themes and editing the taxonomy are offered
    only when `can_edit` and the engine lets this store write themes (the analyst role, no
    row restriction: Store.may_write); the engine refuses the writes anyway."""
    th = th or config.thresholds()
    can_edit = can_edit and store.may_write("import")
    st.subheader("Themes and their impact on NPS")
    try:
        version = persist.results_version(store)
        k = _key(store, (data_key, version))
        status = _status(store, k)
        if can_edit:
            compute_section(store, status, key)
        if not status.computed:
            if not can_edit:
                st.info("Themes have not been computed for this data yet.")
            return
        if not status.taxonomy_current and can_edit:
            rematch_section(store, key)
        source = (
            st.segmented_control(
                "Themes",
                list(SOURCE_LABELS),
                format_func=SOURCE_LABELS.get,
                default="taxonomy",
                key=f"{key}.source",
            )
            or "taxonomy"
        )
        frame = _impact(store, k, filters, source, th)
        if frame.empty:
            st.info("No analysed comment in this selection mentions a theme.")
        else:
            ranking_section(frame, key)
            trend_section(store, k, filters, source, th, frame, key)
            heatmap_section(store, k, filters, source, th, frame, key)
            verbatim_section(store, filters, source, frame, key)
        with st.expander("Languages and sentiment"):
            languages_section(store, k, filters)
        if can_edit:
            taxonomy_section(store, key)
    except (CxError, ValueError) as exc:
        st.error(f"The themes could not be shown: {fmt.md_escape(exc)}", icon=":material/error:")
