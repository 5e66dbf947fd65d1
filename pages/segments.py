"""Segments: drill down a dimension path (treemap / sunburst sized by answers, coloured by
a score) and compare each segment with the rest, with a CSV download."""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cxdata import charts, fmt, segments
from cxdata.metrics import METRICS, metric_def
from cxdata.urlstate import decode_many
from pages._shared import common, exports, plot, state
from pages._shared.session import Ctx, context

NONE = "none"
LEVELS = 3
CHARTS: dict[str, str] = {"treemap": "Treemap", "sunburst": "Sunburst"}
SIGNIFICANT = "Significant (BH, 5% FDR)"  # the verdict column: corrected for all rows tested


def path_select(dims: Sequence[str]) -> list[str]:
    """Up to three levels; a level set to "—" ends the path. URL: path=a&path=b&path=c."""
    default = segments.default_drill_path(dims)
    state.check_adopted("path", "Drill-down levels", lambda raw: all(v in dims for v in raw))
    chosen: list[str] = []
    columns = st.columns(LEVELS)
    for i, col in enumerate(columns):
        options = [d for d in dims if d not in chosen] + ([NONE] if i > 0 else [])
        if not options:
            break

        def decode(values: Sequence[str] | None, i: int = i, options: list[str] = options) -> str:
            path = default if values is None else decode_many(values, dims)
            pick = path[i] if i < len(path) else NONE
            return pick if pick in options else (NONE if i > 0 else options[0])

        key = f"segments.level{i}"
        state.seed(key, "path", decode, lambda v, options=options: v in options)
        value = col.selectbox(
            f"Level {i + 1}",
            options,
            key=key,
            format_func=lambda d: "—" if d == NONE else fmt.dim_label(d),
        )
        state.remember(key, value)
        if value == NONE:
            break
        chosen.append(value)
    state.publish({"path": chosen} if chosen != default else {})
    return chosen


def comparison_table(table: pd.DataFrame, metric: str, th_low_base: int) -> pd.DataFrame:
    """The segment-vs-rest frame in words and rounded numbers, for display and CSV."""

    def verdict(row: pd.Series) -> str:
        if row["suppressed"]:
            return "n too small"
        if row.get("hidden", False):
            return fmt.hidden()
        if pd.isna(row["significant"]):
            return f"not tested (under {th_low_base} answers)"
        if not row["significant"]:
            return "no"
        return "yes, higher" if row["difference"] > 0 else "yes, lower"

    name = fmt.short_label(metric)
    return pd.DataFrame(
        {
            "Segment": table["segment"],
            "Answers": table["responses"],
            f"{name} n": table["n"],
            name: table["value"].round(2),
            "CI low": table["ci_low"].round(2),
            "CI high": table["ci_high"].round(2),
            f"Rest {name}": table["rest_value"].round(2),
            "Rest n": table["rest_n"],
            "Difference": table["difference"].round(2),
            SIGNIFICANT: table.apply(verdict, axis=1),
        }
    )


def drill(ctx: Ctx, path: list[str], metric: str, kind: str) -> segments.Protection | None:
    """The treemap / sunburst; returns what the page withholds (the drilldown and every
    segment-vs-rest table of its levels are protected together: segments.linked_protection).
    """
    nodes = ctx.drilldown(path)
    if nodes.empty:
        st.info("No answers to drill into.")
        return None
    protection = segments.linked_protection(nodes, path, metric, ctx.th)
    nodes = segments.withhold_nodes(nodes, metric, protection.nodes)
    score = ctx.kpis().score(metric)
    name = fmt.short_label(metric)
    fig = charts.drill_figure(
        nodes, metric, kind, "All answers", None if score.suppressed else score.value, score.n
    )
    plot.show(fig, key="drill", alt=f"{CHARTS[kind]} of {' → '.join(path)} coloured by {name}")
    zoom = (
        "Click a box to zoom in, the bar above to zoom out."
        if kind == "treemap"
        else "Click a ring segment to zoom in, the centre to zoom out."
    )
    st.caption(
        f"Size: answers. Colour: {name} on the colour bar (blue better, red worse). "
        f"Grey with hatching, off the colour bar: "
        f"fewer than {ctx.th.min_n} answers (n too small), or hidden because, with the totals "
        f"shown, it would reveal a group of fewer than {ctx.th.min_n} by subtraction. {zoom}"
    )
    return protection


def vs_rest(
    ctx: Ctx, path: list[str], metric: str, protection: segments.Protection | None = None
) -> None:
    """Each segment of one level vs all other answers, with a CSV download; segments that
    `protection` (the drilldown's) withholds are withheld here too."""
    st.subheader("Each segment vs the rest")
    by = state.select(
        "Segments of",
        path,
        key="segments.by",
        param="by",
        default=path[0],
        format_func=fmt.dim_label,
        where=st.columns([1, 3])[0],
    )
    table = ctx.segment_vs_rest(by, metric)
    if protection is not None and not table.empty:
        table = segments.withhold_segments(table, protection.segments.get(by, frozenset()))
    if table.empty:
        st.info("No segments to compare.")
        return
    shown = comparison_table(table, metric, ctx.th.low_base)
    name = fmt.short_label(metric)
    st.dataframe(
        fmt.safe_table(shown),  # segment names are data: shown as the CSV export writes them
        hide_index=True,
        width="stretch",
        column_config={
            **{
                col: st.column_config.NumberColumn(format="%.2f")
                for col in (name, "CI low", "CI high", f"Rest {name}")
            },
            "Answers": st.column_config.NumberColumn(format="localized"),
            f"{name} n": st.column_config.NumberColumn(format="localized"),
            "Rest n": st.column_config.NumberColumn(format="localized"),
            "Difference": st.column_config.NumberColumn(
                format="%+.2f", help="Segment minus the rest, in the metric's unit"
            ),
        },
    )
    exports.table_csv_button(shown, f"segments_{by}_{metric}.csv")
    tests = int(table["comparisons"].max())
    before = int(table["significant_unadjusted"].fillna(False).astype(bool).sum())
    after = int(table["significant"].fillna(False).astype(bool).sum())
    st.caption(
        f"“The rest” is every other answer inside the filters. Significance: "
        f"{metric_def(metric).family.test}, {fmt.corrected(tests)} — {after} of the "
        f"{tests} segments tested are significant ({before} at 95% each, before correcting); "
        f"not run when either side has fewer than {ctx.th.low_base} answers. A segment or "
        f"rest with fewer than {ctx.th.min_n} answers is not shown, and neither is the other "
        f"side of its row (overall − rest would give it back); “{fmt.hidden()}” marks a "
        "row hidden so that small ones cannot be worked out from the overall score and the "
        "other rows."
    )


def render() -> None:
    """The page."""
    ctx = context()
    common.header("Segments", ctx)
    if not common.has_answers(ctx):
        return
    dims = ctx.dimensions()
    if not dims:
        st.info("The data has no segment columns to drill into.")
        return
    path = path_select(dims)
    c1, c2, _ = st.columns([1, 1, 2])
    metric = state.select(
        "Colour and compare by",
        tuple(METRICS),
        key="segments.metric",
        param="metric",
        default="nps",
        format_func=fmt.metric_label,
        where=c1,
    )
    kind = state.select(
        "Chart",
        list(CHARTS),
        key="segments.chart",
        param="chart",
        default="treemap",
        format_func=CHARTS.__getitem__,
        radio=True,
        where=c2,
    )
    protection = None
    with common.guard("The drilldown could not be computed"):
        protection = drill(ctx, path, metric, kind)
    with common.guard("The comparison could not be computed"):
        vs_rest(ctx, path, metric, protection)


render()
