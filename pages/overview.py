"""Overview: the executive view — KPIs with their change and its significance, the biggest
movers and the friction hot spots."""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

import pandas as pd
import streamlit as st

from cxdata import charts, fmt
from cxdata.filters import Filters
from cxdata.kpi_metrics import (
    in_range,
    score_change,
    trailing_window,
    volume_change_between,
)
from cxdata.metrics import METRICS
from cxdata.queries import hotspot_dimension, with_coverage
from cxdata.segments import mover_dimensions
from cxdata.urlstate import decode_choice
from pages._shared import common, state, tiles, why
from pages._shared.auth import effective_grant, may_import
from pages._shared.session import Ctx, context

WHY_METRICS = ("nps", "csat", "ces", "friction")  # the metrics "Why did it move?" explains
WHY_KEY = "overview.why"  # the explained metric's selectbox (URL: why, why.by)
WHY_OPEN = "overview.why.open"  # whether the explanation is shown
MOVERS_KEY = "overview.movers"  # the movers chart's selection (a click on a bar)
MOVERS_METRIC_KEY = "overview.metric"  # the metric the movers are of


def spark_trend(ctx: Ctx, window: Filters) -> pd.DataFrame:
    """The tiles' sparkline data: scores per calendar month of `window` (trailing_window:
    the 12 months ending with the period's end), answers per day of each month, and
    `partial` for a month the window covers only in part (the month so far)."""
    start = max(window.start or ctx.span[0], ctx.span[0])
    end = min(window.end or ctx.span[1], ctx.span[1])
    trend = with_coverage(ctx.trend("month", f=window), "month", start, end)
    trend["per_day"] = trend["responses"] / trend["days"].clip(lower=1)
    trend["partial"] = trend["days"] < trend["period_days"]
    return trend


def spark_caption(trend: pd.DataFrame) -> str:
    """What the sparklines draw, from the data drawn: grain, span and the partial month."""
    if trend.empty:
        return "Sparklines: no answers in the 12 months to the period's end."
    first, last = pd.Timestamp(trend["period"].min()), pd.Timestamp(trend["period"].max())
    text = f"Sparklines: one point per month, {first:%b %Y} – {last:%b %Y}"
    cut = trend[trend["partial"]]
    if not cut.empty:
        days = ", ".join(
            f"{pd.Timestamp(p):%b %Y} ({int(d)} of {int(n)} days)"
            for p, d, n in zip(cut["period"], cut["days"], cut["period_days"], strict=True)
        )
        text += f"; partial months, drawn as open circles: {days}"
    return text + ". The responses line is answers per day, so a partial month does not dip."


def survey_tiles(ctx: Ctx) -> None:
    """NPS, CSAT, CES and the response count, each vs the comparison period; a score with
    no answers says whether the whole data has none (its column was not mapped)."""
    now, before = ctx.kpis_now_and_before()
    everything = ctx.kpis(Filters())  # all dates, no filters (the row restriction holds)
    trend = spark_trend(ctx, trailing_window(ctx.filters))
    volume = volume_change_between(now.responses, before.responses, ctx.filters, ctx.previous)
    vs = common.vs_label(ctx)
    grant = effective_grant()
    link = grant is not None and may_import(grant)
    cols = st.columns(4)
    for col, metric in zip(cols, ("nps", "csat", "ces"), strict=False):
        change = score_change(metric, now, before, ctx.th)
        tiles.score_tile(
            col, metric, getattr(now, metric), change, vs, trend, ctx.th,
            in_data=everything.score(metric).n > 0, data_link=link, why=open_why,
        )  # fmt: skip
    tiles.volume_tile(cols[3], volume, vs, trend)
    st.caption(spark_caption(trend))


def open_why(metric: str) -> None:
    """A tile's "Why did it move?": open the explanation of `metric`, split by the dimension
    that explains most (an invalid remembered value makes the selectbox take its default)."""
    st.session_state[WHY_OPEN] = True
    state.set_value(WHY_KEY, metric)
    state.set_value(f"{WHY_KEY}.by", "")


def close_why() -> None:
    """Hide the explanation (its parameters leave the URL)."""
    st.session_state[WHY_OPEN] = False


def why_open() -> bool:
    """Whether the explanation is shown: from a URL being adopted (a shared link with
    `why`), else as this session left it."""
    adopt = state.adopted()
    if adopt is not None:
        st.session_state[WHY_OPEN] = bool(decode_choice(adopt.get("why"), WHY_METRICS, ""))
    return bool(st.session_state.get(WHY_OPEN))


def why_section(ctx: Ctx) -> None:
    """Why a KPI moved vs the comparison period: the change decomposed along a dimension
    (pages._shared.why), opened from a tile. Its metric and dimension are always in the
    URL while it is open, so a shared link shows the same explanation even when the data
    (and so the dimension that explains most) has changed since."""
    if not why_open():
        return
    st.subheader("Why did it move?")
    left, mid, right = st.columns([1.2, 1.2, 0.5], vertical_alignment="bottom")
    metric = state.select(
        "Explain the change in", WHY_METRICS, key=WHY_KEY, param="why", default="nps",
        format_func=fmt.metric_label, where=left,
    )  # fmt: skip
    right.button("Close", key="overview.why.close", on_click=close_why, icon=":material/close:")
    dim = why.explanation(ctx, metric, key=WHY_KEY, where=mid)
    state.publish({"why": [metric], **({"why.by": [dim]} if dim else {})})


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
    ignored = ctx.metric_filters_ignored()
    sparks = dict(tuple(series.groupby("metric", sort=False)))  # one pass, not one per KPI
    for row_start in range(0, len(kpis), 4):
        cols = st.columns(4)
        for col, kpi in zip(cols, kpis[row_start : row_start + 4], strict=False):
            spark = sparks.get(kpi.metric)
            key = f"spark_m_{row_start}_{kpi.metric}"
            tiles.metric_kpi_tile(col, kpi, vs, spark, key=key, ignored=ignored)
    st.caption(
        "Operational KPIs from the metrics dataset, at the dates the source gives; their "
        "sparklines cover the same months as those above."
    )


def open_mover(ctx: Ctx, metric: str, segment: tuple[str, str]) -> None:
    """Go to Trends filtered to the clicked segment, with the movers' metric (global
    filters and period kept): its line over time shows when and how it moved."""
    dim, value = segment
    params = common.link_params(ctx, {dim: [value]}, page={"metric": [metric]})
    st.switch_page(common.TRENDS.path, query_params=params)


def movers(ctx: Ctx) -> None:
    """Segments whose chosen metric changed significantly, largest change first; a click on
    a bar opens that segment's trend."""
    st.subheader("Biggest movers")
    metric = state.select(
        "Movers of",
        tuple(METRICS),
        key=MOVERS_METRIC_KEY,
        param="metric",
        default="nps",
        format_func=fmt.metric_label,
    )
    if ctx.kpis().score(metric).n == 0:  # not "nothing changed": nothing was answered
        in_data = ctx.kpis(Filters()).score(metric).n > 0
        text = fmt.no_answers(metric, in_data)
        st.info(f"{text[:1].upper()}{text[1:]}.", icon=":material/block:")
        return
    dims = mover_dimensions(ctx.dimensions(), ctx.cardinality(), ctx.filters)
    found = ctx.movers(dims, metric)
    vs = common.vs_label(ctx)
    name = fmt.short_label(metric)
    tests = int(found.attrs.get("comparisons", 0))
    before = int(found.attrs.get("significant_unadjusted", 0))
    plain = f" ({before} at 95% each, before correcting)" if before else ""
    if found.empty:
        st.info(
            f"No segment's {name} changed significantly vs the {vs} "
            f"{fmt.corrected(tests)}{plain}.",
            icon=":material/horizontal_rule:",
        )
        return
    st.plotly_chart(  # a click is read at the top of the next run (render)
        charts.movers_figure(found, metric),
        key=MOVERS_KEY,
        on_select="rerun",
        selection_mode=("points",),
        config=charts.CONFIG,
        theme="streamlit",
        alt=f"Segments whose {name} changed significantly; a click opens the segment's trend",
    )
    shown = min(len(found), 10)
    st.caption(
        f"{len(found)} segment{'s' if len(found) != 1 else ''} changed {name} significantly "
        f"vs the {vs} {fmt.corrected(tests)}{plain}; the {shown} largest are shown. "
        "Click a bar to open its trend. "
        f"Segments with fewer than {ctx.th.low_base} answers in either period are not tested; "
        "dimensions filtered to one value are left out."
    )


def hotspots(ctx: Ctx) -> None:
    """The five touchpoint × segment cells with the most friction, each a link."""
    st.subheader("Friction hot spots")
    dims = ctx.dimensions()
    by = hotspot_dimension(dims)
    if by is None:
        st.info("The data has no touchpoint column, so friction cannot be located."
                if "touchpoint" not in dims else "No segment dimension to locate friction by.")
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
        # A link label is one line that Streamlit cuts with an ellipsis: only the place goes
        # in it; the number and its n go on their own wrapping line, so they always show.
        st.page_link(
            common.TOUCHPOINTS.path,
            label=f"**{fmt.md_escape(tp)}** in {fmt.md_escape(seg)}",
            icon=":material/grid_on:",
            query_params=common.link_params(ctx, {"touchpoint": [tp], by: [seg]}),
        )
        st.caption(
            fmt.md_escape(fmt.hover_text(
                "friction", spot["value"], int(spot["n"]), spot["ci_low"], spot["ci_high"],
                low_base=bool(spot["low_base"]), name="friction",
            ))
        )  # fmt: skip
    st.caption(
        f"Touchpoint × {fmt.dim_label(by)} cells with the highest friction rate "
        f"among those with at least {ctx.th.low_base} answers. A link opens the "
        "Touchpoints page filtered on that cell."
    )


def render() -> None:
    """The page."""
    ctx = context()
    picked = common.chart_click(MOVERS_KEY, charts.mover_pick)
    metric = st.session_state.get(MOVERS_METRIC_KEY)
    if picked is not None and metric in METRICS:  # a bar's trend, before redrawing this
        open_mover(ctx, metric, picked)
    common.header("Overview", ctx)
    ctx.kpis_now_and_before()  # the tiles' two periods in one query; has_answers reads it
    if not common.has_answers(ctx):
        return
    with common.guard("The survey KPIs could not be computed"):
        survey_tiles(ctx)
    with common.guard("The change could not be explained"):
        why_section(ctx)
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
