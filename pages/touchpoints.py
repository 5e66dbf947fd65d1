"""Touchpoints: the friction heatmap (touchpoint × journey stage or any dimension) and the
journey view. Clicking a cell opens its comments on the Feedback page."""

from __future__ import annotations

import streamlit as st

from cxdata.metrics import METRICS, metric_def
from pages._shared import charts, common, fmt, state
from pages._shared.session import Ctx, context

ROWS = "touchpoint"


def friction_definition() -> None:
    """The definition of friction, from the metric registry (one source)."""
    with st.expander("How friction is defined", icon=":material/help:"):
        st.markdown(fmt.md_escape(metric_def("friction").definition))


def open_cell_comments(ctx: Ctx, cols: str, cell: tuple[str, str]) -> None:
    """Go to the Feedback page narrowed to the clicked cell (global filters kept)."""
    touchpoint, value = cell
    params = common.link_params(ctx, page={"tp": [touchpoint], "seg": [f"{cols}:{value}"]})
    st.switch_page(common.FEEDBACK.path, query_params=params)


def heatmap(ctx: Ctx, cols: str, metric: str) -> None:
    """The selectable heatmap."""
    matrix = ctx.friction_matrix(ROWS, cols, metric)
    if matrix.empty:
        st.info("No answers at a touchpoint match these filters.", icon=":material/grid_off:")
        return
    st.subheader(
        f"{fmt.metric_label(metric)}: touchpoint × {fmt.md_escape(fmt.dim_label(cols).lower())}"
    )
    event = st.plotly_chart(
        charts.heatmap_figure(matrix, ROWS, cols, metric),
        key="touchpoints.heatmap",
        on_select="rerun",
        selection_mode=("points",),
        config=charts.CONFIG,
        theme="streamlit",
    )
    cell = charts.heatmap_cell(event.selection if event else None)
    if cell is not None:
        open_cell_comments(ctx, cols, cell)
    st.caption(
        f"Click a cell to read its comments. Grey cells have fewer than {ctx.th.min_n} "
        "answers (n too small); hover a cell for its 95% CI and n."
    )


def journey(ctx: Ctx, metric: str) -> None:
    """Score and volume per journey stage, in journey order."""
    if "journey_stage" not in ctx.dimensions():
        return
    st.subheader("Along the journey")
    stages = ctx.breakdown(["journey_stage"])
    charts.show(
        charts.journey_figure(stages, metric),
        key="journey",
        alt="Score and answers per journey stage",
    )
    st.caption("Stages in journey order; bars: answers, line: the score with its 95% CI.")


def render() -> None:
    """The page."""
    ctx = context()
    common.header("Touchpoints", ctx)
    dims = ctx.dimensions()
    if ROWS not in dims:
        st.info("The data has no touchpoint column, so there is no friction heatmap.")
        return
    if not common.has_answers(ctx):
        return
    c1, c2, _ = st.columns([1, 1, 2])
    col_dims = [d for d in dims if d != ROWS]
    cols = state.select(
        "Columns",
        col_dims,
        key="touchpoints.cols",
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
