"""Plotly figures in one theme for every page.

Streamlit's own Plotly template (theme="streamlit") supplies fonts, grid and background
and follows the user's light/dark choice in the browser without a rerun; the colours it
uses for series come from `[theme] chartCategoricalColors` in .streamlit/config.toml, which
lists the same PALETTE as below. The figures here only add colours that carry meaning —
good/bad, promoter/passive/detractor, "n too small" — chosen to read on both backgrounds
(mid-tone, colour-blind safe blue ↔ red-orange rather than green ↔ red).

Every hover shows the n behind the number (DESIGN §4: n is always one hover away).

Plotly reads a subset of HTML in every text it draws (tick and legend labels, hover,
titles), so every data-derived string goes through `fmt.plotly_escape` (`_html` below).
Categorical axes keep the data's own values as categories (click handlers and selections
return them unchanged) and show escaped `ticktext` for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cxdata.schema import JOURNEY_STAGES
from cxdata.scores import METRICS
from pages._shared import fmt

PALETTE: tuple[str, ...] = (
    "#3A6FD8", "#E8833A", "#2A9D8F", "#C8553D", "#8E6CC9", "#4BA3C7", "#C9A227", "#7A8797",
    "#D3619E", "#6BA539",
)  # fmt: skip
GOOD = "#2F6FD0"
BAD = "#D4573B"
NEUTRAL = "#8D96A5"
PROMOTER, PASSIVE, DETRACTOR = "#2F6FD0", "#A3ACB9", "#D4573B"
SUPPRESSED = "rgba(141,150,165,0.45)"
SUPPRESSED_SOLID = "#B9BFC9"
KPI_LINE = "#8E6CC9"
# Blue = good, red-orange = bad; the middle is a light neutral that reads on dark too.
GOOD_HIGH: list[list[Any]] = [[0.0, "#C8553D"], [0.5, "#EDE6D6"], [1.0, "#2F6FD0"]]
GOOD_LOW: list[list[Any]] = [[0.0, "#2F6FD0"], [0.5, "#EDE6D6"], [1.0, "#C8553D"]]

CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
}
SPARK_CONFIG: dict[str, Any] = {"displayModeBar": False, "staticPlot": False}


def low_base_marker(low: np.ndarray, color: str, size: int = 6) -> dict[str, Any]:
    """Filled markers, and open, larger ones for low-base points."""
    return {
        "color": np.where(low, "rgba(0,0,0,0)", color),
        "size": np.where(low, size + 4, size),
        "line": {"color": color, "width": 2},
        "symbol": np.where(low, "circle-open", "circle"),
    }


# The smallest colour span per metric: a handful of close values is not a red/blue contrast.
_MIN_SPAN: dict[str, float] = {"nps": 20.0, "ces": 1.0}


def color_range(z: np.ndarray, metric: str) -> dict[str, float]:
    """zmin/zmax for a heatmap: the observed range, widened to a minimum span around its
    middle; NPS symmetric around 0 so that 0 is the neutral colour."""
    values = z[np.isfinite(z)]
    if values.size == 0:
        return {}
    lo, hi = float(values.min()), float(values.max())
    if metric == "nps":
        bound = max(abs(lo), abs(hi), _MIN_SPAN["nps"] / 2)
        return {"zmin": -bound, "zmax": bound}
    span = _MIN_SPAN.get(metric, 10.0)
    if hi - lo < span:
        mid = (hi + lo) / 2
        lo, hi = mid - span / 2, mid + span / 2
    return {"zmin": lo, "zmax": hi}


def colorscale(metric: str) -> list[list[Any]]:
    """The diverging scale oriented so that blue is always the good end."""
    return GOOD_HIGH if METRICS[metric].higher_is_better else GOOD_LOW


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 8, "r": 8, "t": 36, "b": 8},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    layout.update(kw)
    fig.update_layout(**layout)
    return fig


def show(
    fig: go.Figure,
    key: str | None = None,
    *,
    config: dict[str, Any] | None = None,
    alt: str | None = None,
) -> None:
    """Draw a figure (not selectable) in the app theme."""
    st.plotly_chart(fig, key=key, config=config or CONFIG, theme="streamlit", alt=alt)


# --- sparkline ---------------------------------------------------------------------------


def sparkline(
    x: Sequence[Any], y: Sequence[float], hover: Sequence[str], color: str = GOOD
) -> go.Figure:
    """A 56-px line without axes; the hover says the period, value and n."""
    fig = go.Figure(
        go.Scatter(
            x=list(x),
            y=list(y),
            mode="lines",
            line={"color": color, "width": 2},
            customdata=list(hover),
            hovertemplate="%{customdata}<extra></extra>",
            connectgaps=False,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        height=56, margin={"l": 0, "r": 0, "t": 4, "b": 4}, showlegend=False, hovermode="x"
    )
    return fig


# --- trends ------------------------------------------------------------------------------


def _hover_rows(frame: pd.DataFrame, metric: str, label: str) -> list[str]:
    m = METRICS[metric]
    out = []
    for _, r in frame.iterrows():
        n = int(r[m.n])
        if r[f"{m.n.removesuffix('_n')}_suppressed"]:
            text = fmt.too_small(n)
        else:
            lb = " · low base" if r[f"{m.n.removesuffix('_n')}_low_base"] else ""
            ci = fmt.ci(metric, r[m.ci_low], r[m.ci_high]) if m.ci_low else "–"
            text = f"{fmt.value(metric, r[m.value])} (95% CI {ci}) · n = {n:,}{lb}"
        out.append(f"{label}{pd.Timestamp(r['period']):%d %b %Y}: {text}")
    return out


MAX_BANDS = 3  # more CI bands than this overlap into an unreadable cloud


def trend_figure(
    frame: pd.DataFrame,
    metric: str,
    by: str | None,
    kpi: pd.DataFrame | None = None,
    kpi_name: str = "",
    height: int = 420,
) -> go.Figure:
    """The metric per period with its 95% CI band, one line per `by` value; low-base
    points as open markers; an optional metrics-dataset series on a second y axis."""
    m = METRICS[metric]
    fig = go.Figure()
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=False))
    if by is not None:  # "Other" last, the rest by volume
        volume = frame.groupby(by)["responses"].sum()
        groups.sort(key=lambda g: (str(g[0]) == "Other", -volume.get(g[0], 0)))
    family = m.n.removesuffix("_n")
    for i, (name, g) in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        label = f"{_html(name)}: " if name is not None else ""
        legend = _html(name) if name is not None else fmt.SHORT_LABELS.get(metric, m.label)
        g = g.sort_values("period")
        x = g["period"]
        if m.ci_low and len(groups) <= MAX_BANDS:
            fig.add_trace(
                go.Scatter(
                    x=pd.concat([x, x[::-1]]),
                    y=pd.concat([g[m.ci_high], g[m.ci_low][::-1]]),
                    fill="toself",
                    fillcolor=_rgba(color, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=legend,
                    name=f"{legend} CI",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=g[m.value],
                mode="lines+markers",
                name=legend,
                legendgroup=legend,
                line={"color": color, "width": 2},
                marker=low_base_marker(g[f"{family}_low_base"].astype(bool).to_numpy(), color),
                customdata=_hover_rows(g, metric, label),
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    if kpi is not None and not kpi.empty:
        unit = _html(kpi["unit"].iloc[0]) if "unit" in kpi else ""
        kpi_name = _html(kpi_name)
        fig.add_trace(
            go.Scatter(
                x=kpi["date"],
                y=kpi["value"],
                name=f"{kpi_name} (right axis)",
                yaxis="y2",
                mode="lines+markers",
                line={"color": KPI_LINE, "width": 2, "dash": "dot"},
                marker={"symbol": "diamond", "size": 7},
                customdata=[
                    f"{kpi_name} {pd.Timestamp(d):%b %Y}: {v:.2f} {unit} (mean of {int(s)} series)"
                    for d, v, s in zip(kpi["date"], kpi["value"], kpi["series"], strict=True)
                ],
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
        fig.update_layout(
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "tickmode": "auto",
                "nticks": 6,
                "title": {"text": f"{kpi_name} ({unit})" if unit else kpi_name},
            }
        )
    fig.update_layout(yaxis_title=m.label)
    return _layout(fig, height, hovermode="closest")


def shares_figure(frame: pd.DataFrame, height: int = 300) -> go.Figure:
    """Promoter / passive / detractor shares per period, stacked to 100%."""
    fig = go.Figure()
    frame = frame.sort_values("period")
    for col, name, color in (
        ("detractor_pct", "Detractors (0–6)", DETRACTOR),
        ("passive_pct", "Passives (7–8)", PASSIVE),
        ("promoter_pct", "Promoters (9–10)", PROMOTER),
    ):
        hover = [
            f"{name} {pd.Timestamp(p):%d %b %Y}: {fmt.value('promoter_pct', v)} of n = {int(n):,}"
            if not fmt.is_missing(v)
            else fmt.too_small(int(n))
            for p, v, n in zip(frame["period"], frame[col], frame["nps_n"], strict=True)
        ]
        fig.add_trace(
            go.Bar(
                x=frame["period"],
                y=frame[col],
                name=name,
                marker_color=color,
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_yaxes(title_text="share of NPS answers (%)", range=[0, 100])
    return _layout(fig, height)


# --- touchpoints ----------------------------------------------------------------------


def ordered_categories(
    values: Sequence[str], dim: str, volume: pd.Series | None = None
) -> list[str]:
    """Journey stages in journey order; other values by volume (largest first)."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    if dim == "journey_stage":
        rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
        return sorted(uniq, key=lambda v: (rank.get(v, len(rank)), v))
    if volume is not None:
        return sorted(uniq, key=lambda v: (-float(volume.get(v, 0)), v))
    return sorted(uniq)


def touchpoint_order(matrix: pd.DataFrame, rows: str, cols: str) -> list[str]:
    """Touchpoints grouped by the journey stage where most of their answers are (when the
    columns are stages), else by volume — so the heatmap reads along the journey."""
    volume = matrix.groupby(rows)["responses"].sum()
    if cols != "journey_stage":
        return ordered_categories(matrix[rows], rows, volume)
    rank = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    main_stage = matrix.loc[matrix.groupby(rows)["responses"].idxmax(), [rows, cols]]
    stage_of = dict(zip(main_stage[rows], main_stage[cols], strict=True))
    return sorted(
        volume.index.astype(str),
        key=lambda t: (rank.get(stage_of.get(t, ""), len(rank)), -volume[t], t),
    )


def heatmap_figure(matrix: pd.DataFrame, rows: str, cols: str, metric: str) -> go.Figure:
    """Touchpoint × `cols` coloured by `metric`; suppressed cells grey with "n<…";
    an invisible marker per cell makes cells clickable (Plotly heatmaps are not
    selectable) and carries the hover text with the value, CI and n."""
    row_order = touchpoint_order(matrix, rows, cols)
    col_volume = matrix.groupby(cols)["responses"].sum()
    col_order = ordered_categories(matrix[cols], cols, col_volume)
    cell = matrix.assign(**{rows: matrix[rows].astype(str), cols: matrix[cols].astype(str)})
    cell = cell.set_index([rows, cols])
    grid = pd.MultiIndex.from_product([row_order, col_order])
    cell = cell.reindex(grid)
    shape = (len(row_order), len(col_order))
    z = cell["value"].to_numpy(dtype="float64").reshape(shape)
    suppressed = cell["suppressed"].fillna(False).astype(bool).to_numpy().reshape(shape)
    present = cell["n"].notna().to_numpy().reshape(shape)
    text = np.where(np.isnan(z), "", np.vectorize(lambda v: fmt.value(metric, v))(np.nan_to_num(z)))
    text = np.where(suppressed, "", text)  # the grey overlay below says "n too small"
    m = METRICS[metric]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=col_order,
            y=row_order,
            colorscale=colorscale(metric),
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            hoverinfo="skip",
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": fmt.SHORT_LABELS.get(metric, m.label)}, "thickness": 12},
            **color_range(z, metric),
        )
    )
    if suppressed.any():
        fig.add_trace(
            go.Heatmap(
                z=np.where(suppressed, 1.0, np.nan),
                x=col_order,
                y=row_order,
                colorscale=[[0, SUPPRESSED], [1, SUPPRESSED]],
                showscale=False,
                hoverinfo="skip",
                text=np.where(suppressed, "n too small", ""),
                texttemplate="%{text}",
                textfont={"size": 10},
                xgap=2,
                ygap=2,
            )
        )
    xs, ys, hover, ids = [], [], [], []
    for i, r in enumerate(row_order):
        for j, c in enumerate(col_order):
            if not present[i, j]:
                continue
            row = cell.loc[(r, c)]
            n = int(row["n"])
            if suppressed[i, j]:
                body = fmt.too_small(n)
            else:
                lb = " · low base" if row["low_base"] else ""
                body = (
                    f"{fmt.SHORT_LABELS.get(metric, m.label)} {fmt.value(metric, row['value'])}"
                    f" (95% CI {fmt.ci(metric, row['ci_low'], row['ci_high'])}) · "
                    f"n = {n:,}{lb}"
                )
            xs.append(c)
            ys.append(r)
            ids.append(f"{r}\x1f{c}")
            hover.append(
                f"<b>{_html(r)}</b> × {_html(c)}<br>{body}<br>"
                f"{int(row['responses']):,} answers · click to read the comments"
            )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            customdata=ids,
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
            marker={"size": 24, "opacity": 0, "symbol": "square"},
            selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            name="cells",
        )
    )
    fig.update_xaxes(
        type="category",
        side="top",
        tickangle=0 if len(col_order) <= 8 else -35,
        title_text=_html(fmt.dim_label(cols)),
        categoryorder="array",
        categoryarray=col_order,
        showgrid=False,
        **category_ticks(col_order),
    )
    fig.update_yaxes(
        type="category",
        autorange="reversed",
        title_text=_html(fmt.dim_label(rows)),
        categoryorder="array",
        categoryarray=row_order,
        showgrid=False,
        **category_ticks(row_order),
    )
    height = max(320, 28 * len(row_order) + 150)
    return _layout(
        fig, height, hovermode="closest", hoverdistance=-1, margin={"l": 8, "r": 8, "t": 90, "b": 8}
    )


def _html(text: object) -> str:
    """Plotly text is HTML: data values are escaped (and cleaned of bidi controls)."""
    return fmt.plotly_escape(text)


def category_ticks(categories: Sequence[object]) -> dict[str, Any]:
    """Axis settings that label each category (the data's own value, which selections
    return) with its escaped text."""
    values = list(categories)
    return {"tickmode": "array", "tickvals": values, "ticktext": [_html(v) for v in values]}


def heatmap_cell(selection: dict[str, Any] | None) -> tuple[str, str] | None:
    """The (row, column) of the clicked heatmap cell in a plotly selection, if any."""
    points = (selection or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, str) and "\x1f" in data:
            row, col = data.split("\x1f", 1)
            return row, col
    return None


def journey_figure(stages: pd.DataFrame, metric: str, height: int = 360) -> go.Figure:
    """The journey stages in order: answers as bars (right axis), the metric as a line
    with 95% CI error bars (left axis); suppressed stages leave a gap."""
    m = METRICS[metric]
    stages = stages.copy()
    stages["stage"] = stages["journey_stage"].astype(str)
    order = ordered_categories(stages["stage"], "journey_stage")
    stages = stages.set_index("stage").loc[order].reset_index()
    family = m.n.removesuffix("_n")
    hover = []
    for _, r in stages.iterrows():
        n = int(r[m.n])
        if r[f"{family}_suppressed"]:
            hover.append(f"{_html(r['stage'])}: {fmt.too_small(n)}")
        else:
            lb = " · low base" if r[f"{family}_low_base"] else ""
            hover.append(
                f"{_html(r['stage'])}: {fmt.value(metric, r[m.value])} (95% CI "
                f"{fmt.ci(metric, r[m.ci_low], r[m.ci_high])}) · n = {n:,}{lb}"
            )
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=stages["stage"],
            y=stages["responses"],
            name="Answers (right axis)",
            yaxis="y2",
            marker_color=_rgba(NEUTRAL, 0.35),
            customdata=[
                f"{_html(s)}: {int(v):,} answers"
                for s, v in zip(stages["stage"], stages["responses"], strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=stages["stage"],
            y=stages[m.value],
            name=fmt.SHORT_LABELS.get(metric, m.label),
            mode="lines+markers",
            line={"color": GOOD, "width": 3},
            marker=low_base_marker(stages[f"{family}_low_base"].astype(bool).to_numpy(), GOOD, 9),
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (stages[m.ci_high] - stages[m.value]).to_numpy(),
                "arrayminus": (stages[m.value] - stages[m.ci_low]).to_numpy(),
                "color": _rgba(GOOD, 0.6),
            },
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        yaxis={"title": {"text": m.label}},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "title": {"text": "answers"},
            "tickmode": "auto",
            "tickformat": ",d",
            "range": [0, float(stages["responses"].max()) * 1.1],
        },
        xaxis={"type": "category", "title": {"text": "Journey stage"}, **category_ticks(order)},
    )
    return _layout(fig, height, hovermode="closest")


# --- overview -----------------------------------------------------------------------------


def movers_figure(movers: pd.DataFrame, metric: str = "nps", limit: int = 10) -> go.Figure:
    """Horizontal bars of the significant changes, largest first; colour = better/worse."""
    top = movers.head(limit).iloc[::-1]
    better = top["change"] > 0 if METRICS[metric].higher_is_better else top["change"] < 0
    labels = [
        f"{fmt.dim_label(d)}: {v}" for d, v in zip(top["dimension"], top["value"], strict=True)
    ]
    hover = [
        f"<b>{_html(lab)}</b><br>{fmt.SHORT_LABELS.get(metric, metric)} "
        f"{fmt.value(metric, now)} (n = {int(nn):,}) vs {fmt.value(metric, prev)} "
        f"(n = {int(pn):,})<br>change {fmt.change(metric, ch)} · significant (95%)"
        for lab, now, prev, nn, pn, ch in zip(
            labels, top["now"], top["prev"], top["n_now"], top["n_prev"], top["change"], strict=True
        )
    ]
    fig = go.Figure(
        go.Bar(
            x=top["change"],
            y=labels,
            orientation="h",
            marker_color=np.where(better, GOOD, BAD),
            text=[fmt.change(metric, c) for c in top["change"]],
            textposition="auto",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=f"change in {fmt.SHORT_LABELS.get(metric, metric)}", zeroline=True)
    fig.update_yaxes(type="category", automargin=True, **category_ticks(labels))
    return _layout(fig, max(220, 34 * len(top) + 70), showlegend=False)


# --- segments -----------------------------------------------------------------------------


def _scale_with_suppressed(
    values: Sequence[float], metric: str
) -> tuple[list[list[Any]], float, float, float]:
    """A colour scale whose bottom 4% is the "n too small" grey, with cmin/cmax such that
    `sentinel` (used for suppressed nodes) falls in that band. NPS is centred on 0."""
    finite = [v for v in values if not fmt.is_missing(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if metric == "nps":
        bound = max(abs(lo), abs(hi), 1.0)
        lo, hi = -bound, bound
    span = (hi - lo) or 1.0
    band = 0.04
    cmin = lo - span * band / (1 - band)
    base = colorscale(metric)
    scale: list[list[Any]] = [[0.0, SUPPRESSED_SOLID], [band, SUPPRESSED_SOLID]]
    scale += [
        [band + (1 - band) * pos + (1e-6 if i == 0 else 0.0), color]
        for i, (pos, color) in enumerate(base)
    ]
    scale[-1][0] = 1.0
    return scale, cmin, hi, cmin


def drill_figure(
    nodes: pd.DataFrame,
    metric: str,
    kind: str,
    root_label: str,
    root_value: float | None,
    root_n: int,
) -> go.Figure:
    """A treemap or sunburst of the drilldown: size = answers, colour = `metric`;
    suppressed nodes are grey and labelled "n too small (n=…)"."""
    m = METRICS[metric]
    family = m.n.removesuffix("_n")
    root = "All"
    ids = [root, *nodes["id"].astype(str)]
    parents = ["", *[p if p else root for p in nodes["parent"].astype(str)]]
    labels = [root_label, *nodes["label"].astype(str)]
    values = [
        int(nodes.loc[nodes["level"] == 1, "responses"].sum()),
        *nodes["responses"].astype(int),
    ]
    supp = [root_value is None, *nodes[f"{family}_suppressed"].astype(bool)]
    raw = [root_value, *nodes[m.value]]
    ns = [root_n, *nodes[m.n].astype(int)]
    lows = [False, *nodes[f"{family}_low_base"].astype(bool)]
    hidden = [s or fmt.is_missing(v) for s, v in zip(supp, raw, strict=True)]
    scale, cmin, cmax, sentinel = _scale_with_suppressed(
        [v for v, h in zip(raw, hidden, strict=True) if not h], metric
    )
    color = [sentinel if h else float(v) for h, v in zip(hidden, raw, strict=True)]
    name = fmt.SHORT_LABELS.get(metric, m.label)
    info = []
    for h, v, n, lb in zip(hidden, raw, ns, lows, strict=True):
        if h:
            info.append(fmt.too_small(n))
        else:
            info.append(
                f"{name} {fmt.value(metric, v)} · n = {n:,}" + (" · low base" if lb else "")
            )
    marker: dict[str, Any] = {
        "colors": color,
        "colorscale": scale,
        "cmin": cmin,
        "cmax": cmax,
        "showscale": True,
        "colorbar": {"title": {"text": name}, "thickness": 12},
    }
    common: dict[str, Any] = {
        "ids": ids,
        "parents": parents,
        "labels": [_html(x) for x in labels],
        "values": values,
        "branchvalues": "total",
        "customdata": info,
        "marker": marker,
        "texttemplate": "<b>%{label}</b><br>%{customdata}",
        "hovertemplate": "<b>%{label}</b><br>%{customdata}<br>%{value:,} answers<extra></extra>",
    }
    if kind == "treemap":
        trace = go.Treemap(**common, tiling={"pad": 2}, pathbar={"visible": True})
    else:
        trace = go.Sunburst(**common, insidetextorientation="radial")
    return _layout(go.Figure(trace), 560, margin={"l": 4, "r": 4, "t": 30, "b": 4})
