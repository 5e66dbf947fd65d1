"""Overview: the executive view — KPIs with their change and its significance, the biggest
movers and the friction hot spots."""

from __future__ import annotations

import streamlit as st

from cxdata.kpi_metrics import (
    answers_per_day,
    days_in,
    in_range,
    score_change,
    trailing_window,
    volume_change_between,
)
from pages._shared import charts, common, fmt, tiles
from pages._shared.session import Ctx, context

MOVER_MAX_VALUES = 50  # dimensions with more values (ids, cities…) are too noisy for movers
HOTSPOT_DIMS = ("region", "country", "channel", "plan")


def spark_grain(ctx: Ctx) -> str:
    """Weeks for ranges up to four months, months beyond."""
    return "week" if days_in(ctx.filters) <= 120 else "month"


def survey_tiles(ctx: Ctx) -> None:
    """NPS, CSAT, CES and the response count, each vs the comparison period."""
    now, before = ctx.kpis(), ctx.kpis(ctx.previous)
    grain = spark_grain(ctx)
    trend = ctx.trend(grain)
    trend["per_day"] = answers_per_day(
        trend["period"], trend["responses"], grain, ctx.filters.start, ctx.filters.end
    )
    volume = volume_change_between(now.responses, before.responses, ctx.filters, ctx.previous)
    vs = common.vs_label(ctx)
    cols = st.columns(4)
    for col, metric in zip(cols, ("nps", "csat", "ces"), strict=False):
        change = score_change(metric, now, before, ctx.th)
        tiles.score_tile(col, metric, getattr(now, metric), change, vs, trend, ctx.th)
    tiles.volume_tile(cols[3], volume, vs, trend)


def metric_tiles(ctx: Ctx) -> None:
    """The metrics dataset's KPIs (retention, churn…), four per row."""
    kpis = ctx.metric_kpis()
    if not kpis:
        st.caption(
            "No operational KPIs in this period. Import a metrics dataset (retention, "
            "churn, wait times…) on the Data page to see them here."
        )
        return
    series = in_range(ctx.metric_series(ctx.metric_window()), trailing_window(ctx.filters))
    vs = common.vs_label(ctx)
    for row_start in range(0, len(kpis), 4):
        cols = st.columns(4)
        for col, kpi in zip(cols, kpis[row_start : row_start + 4], strict=False):
            spark = series[series["metric"] == kpi.metric]
            tiles.metric_kpi_tile(col, kpi, vs, spark, key=f"spark_m_{row_start}_{kpi.metric}")
    ignored = ctx.metric_filters_ignored()
    notes = ["Sparklines: the last 12 months."]
    if ignored:
        notes.append(
            "Not narrowed by "
            + fmt.md_escape(", ".join(fmt.dim_label(d) for d in ignored))
            + ": the metrics dataset has no such column."
        )
    st.caption(" ".join(notes))


def movers(ctx: Ctx) -> None:
    """Segments whose NPS changed significantly, largest change first."""
    st.subheader("Biggest movers")
    card = ctx.cardinality()
    dims = [d for d in ctx.dimensions() if 1 < card.get(d, 0) <= MOVER_MAX_VALUES]
    found = ctx.movers(dims, "nps")
    vs = common.vs_label(ctx)
    if found.empty:
        st.info(
            f"No segment's NPS changed significantly vs the {vs}.",
            icon=":material/horizontal_rule:",
        )
        return
    charts.show(
        charts.movers_figure(found, "nps"),
        key="movers",
        alt="Segments whose NPS changed significantly",
    )
    shown = min(len(found), 10)
    st.caption(
        f"{len(found)} segment{'s' if len(found) != 1 else ''} changed NPS significantly "
        f"(95%) vs the {vs}; the {shown} largest are shown. Segments with fewer than "
        f"{ctx.th.low_base} answers in either period are not tested."
    )


def hotspots(ctx: Ctx) -> None:
    """The five touchpoint × segment cells with the most friction, each a link."""
    st.subheader("Friction hot spots")
    dims = ctx.dimensions()
    if "touchpoint" not in dims:
        st.info("The data has no touchpoint column, so friction cannot be located.")
        return
    by = next((d for d in HOTSPOT_DIMS if d in dims), None)
    if by is None:
        st.info("No segment dimension to locate friction by.")
        return
    spots = ctx.hotspots(by, limit=5)
    if spots.empty:
        st.info(
            f"No touchpoint × {fmt.dim_label(by)} cell has enough answers "
            f"({ctx.th.low_base}+) to rank."
        )
        return
    for _, spot in spots.iterrows():
        tp, seg = str(spot["touchpoint"]), str(spot[by])
        label = (
            f"**{fmt.md_escape(tp)}** in {fmt.md_escape(seg)}: friction "
            f"{fmt.value('friction', spot['value'])} (n = {int(spot['n']):,})"
        )
        st.page_link(
            common.TOUCHPOINTS.path,
            label=label,
            icon=":material/grid_on:",
            query_params=common.link_params(ctx, {"touchpoint": [tp], by: [seg]}),
        )
    st.caption(
        f"Touchpoint × {fmt.dim_label(by)} cells with the highest friction rate "
        f"among those with at least {ctx.th.low_base} answers. A link opens the "
        "Touchpoints page filtered on that cell."
    )


def render() -> None:
    """The page."""
    ctx = context()
    common.header("Overview", ctx)
    if not common.has_answers(ctx):
        return
    with common.guard("The survey KPIs could not be computed"):
        survey_tiles(ctx)
    with common.guard("The operational KPIs could not be computed"):
        metric_tiles(ctx)
    left, right = st.columns([3, 2], gap="large")
    with left, common.guard("The movers could not be computed"):
        movers(ctx)
    with right, common.guard("The hot spots could not be computed"):
        hotspots(ctx)
    st.caption(
        f"Honest numbers: a score on fewer than {ctx.th.min_n} answers is not shown "
        f"(“n too small”); under {ctx.th.low_base} answers it is marked low base and its "
        "change is not tested. A coloured change is significant at 95%; a grey one is not, "
        "or was not tested. Hover any chart for the n behind each number."
    )


render()
