"""Touchpoints: the friction heatmap (touchpoint × journey stage or any dimension) and the
journey view, then the touchpoint ratings of multi-question surveys (mean and top-2-box per
rated touchpoint, in a heatmap and along the journey). Clicking a friction cell opens its
comments on the Feedback page."""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

import pandas as pd
import streamlit as st

from cxdata import charts, fmt, ratings
from cxdata.filters import NOT_SET, Filters
from cxdata.metrics import METRICS, metric_def
from pages._shared import common, drivers_view, plot, state
from pages._shared.session import Ctx, context

ROWS = "touchpoint"
HEATMAP_KEY = "touchpoints.heatmap"  # the heatmap's selection (a click on a cell)
COLS_KEY = "touchpoints.cols"  # the heatmap's column dimension


def friction_definition() -> None:
    """The definition of friction, from the metric registry (one source)."""
    with st.expander("How friction is defined", icon=":material/help:"):
        st.markdown(fmt.md_escape(metric_def("friction").definition))


def open_cell_comments(ctx: Ctx, cols: str, cell: tuple[str, str]) -> None:
    """Go to the Feedback page narrowed to the clicked cell (global filters kept)."""
    touchpoint, value = cell
    params = common.link_params(ctx, page={"tp": [touchpoint], "seg": [f"{cols}:{value}"]})
    st.switch_page(common.FEEDBACK.path, query_params=params)


def clicked_cell() -> tuple[str, tuple[str, str]] | None:
    """(the heatmap's column dimension, the clicked (touchpoint, value) cell) when a click
    on a heatmap cell started this run, else None. Read before anything is drawn, so the
    click goes straight to the cell's comments instead of redrawing this page first."""
    cell = common.chart_click(HEATMAP_KEY, charts.heatmap_cell)
    cols = st.session_state.get(COLS_KEY)
    return (cols, cell) if cell is not None and isinstance(cols, str) else None


def period_reference(ctx: Ctx, metric: str) -> tuple[float | None, str]:
    """The heatmap's neutral colour: `metric` over every answer of the period (no dimension
    filter, so a view filtered to one cell is still coloured against the whole), and the
    sentence that says so."""
    overall = ctx.kpis(Filters.make(ctx.filters.start, ctx.filters.end)).score(metric)
    if overall.suppressed or overall.value is None:
        return None, (
            f"The period's overall {fmt.short_label(metric)} is "
            f"{fmt.too_small(overall.n)}, so colours span the values shown."
        )
    return overall.value, (
        f"The neutral colour is the period's overall {fmt.short_label(metric)} over all "
        f"answers ({fmt.value(metric, overall.value)}, n = {overall.n:,}): red cells are "
        "worse than it, blue ones better."
    )


def heatmap(ctx: Ctx, cols: str, metric: str) -> None:
    """The selectable heatmap."""
    matrix = ctx.friction_matrix(ROWS, cols, metric)
    if matrix.empty:
        st.info("No answers at a touchpoint match these filters.", icon=":material/grid_off:")
        return
    reference, colour_note = period_reference(ctx, metric)
    st.subheader(
        f"{fmt.metric_label(metric)}: touchpoint × {fmt.md_escape(fmt.dim_label(cols).lower())}"
    )
    st.plotly_chart(  # a click is read at the top of the next run (clicked_cell)
        charts.heatmap_figure(matrix, ROWS, cols, metric, reference),
        key=HEATMAP_KEY,
        on_select="rerun",
        selection_mode=("points",),
        config=charts.CONFIG,
        theme="streamlit",
    )
    st.caption(
        f"Click a cell to read its comments. Grey cells have fewer than {ctx.th.min_n} "
        f"answers (n too small); hover a cell for its 95% CI and n. {colour_note}"
    )


def journey(ctx: Ctx, metric: str) -> None:
    """Score and volume per journey stage, in journey order."""
    if "journey_stage" not in ctx.dimensions():
        return
    st.subheader("Along the journey")
    stages = ctx.breakdown(["journey_stage"])
    plot.show(
        charts.journey_figure(stages, metric),
        key="journey",
        alt="Score and answers per journey stage",
    )
    st.caption("Stages in journey order; bars: answers, line: the score with its 95% CI.")


RATING_MEASURES: dict[str, str] = {
    "top2": "Top-2-box %",
    "mean": "Mean (% of its scale)",
}


def rating_note(r: pd.Series) -> str:
    """What limits a rating group's numbers, or ""."""
    if bool(r["suppressed"]):
        return fmt.too_small(int(r["n"]))
    if not bool(r["scale_known"]):
        return "scale unknown (none stored)"
    if not bool(r["top2_defined"]):
        return "no top-2-box on this scale"
    return "low base" if bool(r["low_base"]) else ""


def ratings_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per rated touchpoint and scale: n, mean and top-2-box with their CIs."""
    def ci(r: pd.Series, col: str, prefix: str, unit: str, d: int) -> str:
        if pd.isna(r[col]):
            return "–"
        low, high = r[f"{prefix}_ci_low"], r[f"{prefix}_ci_high"]
        return f"{r[col]:.{d}f}{unit} ({low:.{d}f} – {high:.{d}f})"

    return pd.DataFrame(
        {
            "Rated touchpoint": frame[ratings.RATED].astype(str),
            "Scale": frame["scale"].map(ratings.scale_label),
            "n": frame["n"].astype("int64"),
            "Mean (95% CI)": [ci(r, "mean", "mean", "", 2) for _, r in frame.iterrows()],
            "Top-2-box (95% CI)": [
                ci(r, "top2_pct", "top2", "%", 1) for _, r in frame.iterrows()
            ],
            "Note": [rating_note(r) for _, r in frame.iterrows()],
        }
    )


def left_out(frame: pd.DataFrame, measure: str) -> str:
    """The sentence naming the rated touchpoints `measure` cannot place, or ""."""
    out = frame[~ratings.placeable(frame, measure)]
    names = sorted({ratings.row_label(t, s) for t, s in zip(out[ratings.RATED], out["scale"],
                                                             strict=True)})  # fmt: skip
    if not names:
        return ""
    why = ("a top-2-box needs a known scale of 4 or more points" if measure == "top2"
           else "the import stored no scale to place the mean on")  # fmt: skip
    return f"Not drawn: {fmt.md_escape(', '.join(names))} ({why}; see the table)."


def touchpoint_ratings(ctx: Ctx, dims: list[str]) -> None:
    """Per-touchpoint sub-ratings: a table, the heatmap by any dimension, the journey."""
    overall = ctx.touchpoint_ratings()
    if overall.empty:
        st.caption(
            "No touchpoint ratings in these answers. Surveys that rate several touchpoints "
            "(seat comfort, cabin staff, wifi…) show them here once imported on the Data page."
        )
        return
    st.subheader("Touchpoint ratings")
    st.dataframe(
        fmt.safe_table(ratings_table(overall)), hide_index=True,
        column_config={"Note": st.column_config.TextColumn(width="medium")},
    )  # fmt: skip
    st.caption(
        "Sub-ratings of multi-question surveys, each on the scale the import stored with it "
        "(never mixed across scales). Top-2-box: share of ratings in the two highest points "
        f"(Wilson 95% CI); mean: 95% CI mean ± 1.96·s/√n. Under {ctx.th.min_n} ratings no "
        f"number is shown; under {ctx.th.low_base} it is marked low base."
    )
    c1, c2, _ = st.columns([1, 1, 2])
    cols = state.select(
        "Ratings by", dims, key="touchpoints.rating_cols", param="rating.cols",
        default="journey_stage" if "journey_stage" in dims else dims[0],
        format_func=fmt.dim_label, where=c1,
    )  # fmt: skip
    measure = state.select(
        "Ratings coloured by", tuple(RATING_MEASURES), key="touchpoints.rating_by",
        param="rating.by", default="top2", format_func=RATING_MEASURES.__getitem__, where=c2,
    )  # fmt: skip
    by_cols = ctx.touchpoint_ratings(cols)
    if ratings.placeable(by_cols, measure).any():
        # like the friction heatmap, untitled: its column headers and their title sit at
        # the top, where a chart title would cover them
        st.plotly_chart(
            charts.ratings_heatmap_figure(by_cols, cols, measure),
            key="touchpoints.ratings_heatmap", config=charts.CONFIG, theme="streamlit",
        )  # fmt: skip
    st.caption(
        "Colours span the whole scale: white is its middle (50%), blue the top, red the "
        f"bottom. Hover a cell for its mean, top-2-box, 95% CIs and n. {left_out(by_cols, measure)}"
    )
    if "journey_stage" not in dims:
        st.caption("The answers have no journey stage, so the ratings cannot be placed along it.")
        return
    stages = ctx.touchpoint_ratings("journey_stage")
    if ratings.placeable(stages, measure).any():
        plot.show(
            charts.ratings_journey_figure(stages, measure),
            key="touchpoints.ratings_journey",
            alt="Touchpoint ratings along the journey",
        )
        st.caption(
            "Ratings along the journey stage of the answers they belong to; bars: 95% CI, "
            "open circles: low base, gaps: no or too few ratings."
        )


def render() -> None:
    """The page."""
    ctx = context()
    clicked = clicked_cell()
    if clicked is not None:
        open_cell_comments(ctx, *clicked)
    common.header("Touchpoints", ctx)
    dims = ctx.dimensions()
    if not common.has_answers(ctx):
        return
    # A core column that is empty everywhere (a ratings-only survey has no touchpoint,
    # stage or channel) is no dimension to show or group by.
    dims = [d for d in dims if any(v != NOT_SET for v in ctx.dimension_values(d))]
    if ROWS in dims:
        friction_views(ctx, dims)
    else:
        st.info("The answers name no touchpoint, so there is no friction heatmap.")
    with common.guard("The touchpoint ratings could not be computed"):
        touchpoint_ratings(ctx, dims)
    with common.guard("The key drivers could not be computed"):
        drivers_view.key_drivers(ctx)


def friction_views(ctx: Ctx, dims: list[str]) -> None:
    """The friction heatmap and the journey, with their controls."""
    c1, c2, _ = st.columns([1, 1, 2])
    col_dims = [d for d in dims if d != ROWS]
    cols = state.select(
        "Columns",
        col_dims,
        key=COLS_KEY,
        param="cols",
        default="journey_stage" if "journey_stage" in col_dims else col_dims[0],
        format_func=fmt.dim_label,
        where=c1,
    )
    metric = state.select(
        "Colour by",
        tuple(METRICS),
        key="touchpoints.color",
        param="color",
        default="friction",
        format_func=fmt.metric_label,
        where=c2,
    )
    friction_definition()
    with common.guard("The heatmap could not be computed"):
        heatmap(ctx, cols, metric)
    with common.guard("The journey view could not be computed"):
        journey(ctx, metric)


render()
