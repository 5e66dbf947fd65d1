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

from cxdata.metrics import metric_def
from cxdata.schema import JOURNEY_STAGES
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
    return GOOD_HIGH if metric_def(metric).higher_is_better else GOOD_LOW


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


def score_hovers(
    frame: pd.DataFrame, metric: str, labels: Sequence[str], name: str = ""
) -> list[str]:
    """One hover per row of a score frame: "<label>: " + fmt.hover_text (value, 95% CI, n,
    low base; "n too small"; withheld rows where the frame has a `hidden` column)."""
    m = metric_def(metric)
    hidden = frame["hidden"] if "hidden" in frame else pd.Series(False, index=frame.index)
    out = []
    for label, (_, r), h in zip(labels, frame.iterrows(), hidden, strict=True):
        text = fmt.hover_text(
            metric, r[m.value], int(r[m.n]), r[m.ci_low], r[m.ci_high],
            suppressed=bool(r[m.base.suppressed]), low_base=bool(r[m.base.low_base]),
            withheld=bool(h), name=name,
        )  # fmt: skip
        out.append(f"{label}: {text}")
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
    m = metric_def(metric)
    fig = go.Figure()
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=False))
    if by is not None:  # "Other" last, the rest by volume
        volume = frame.groupby(by)["responses"].sum()
        groups.sort(key=lambda g: (str(g[0]) == "Other", -volume.get(g[0], 0)))
    for i, (name, g) in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        label = f"{_html(name)}: " if name is not None else ""
        legend = _html(name) if name is not None else m.short_label
        g = g.sort_values("period")
        x = g["period"]
        if len(groups) <= MAX_BANDS:
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
                marker=low_base_marker(g[m.base.low_base].astype(bool).to_numpy(), color),
                customdata=score_hovers(
                    g, metric, [f"{label}{pd.Timestamp(p):%d %b %Y}" for p in x]
                ),
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
    m = metric_def(metric)
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
            colorbar={"title": {"text": m.short_label}, "thickness": 12},
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
            body = fmt.hover_text(
                metric, row["value"], int(row["n"]), row["ci_low"], row["ci_high"],
                suppressed=suppressed[i, j], low_base=bool(row["low_base"]), name=m.short_label,
            )  # fmt: skip
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
    m = metric_def(metric)
    stages = stages.copy()
    stages["stage"] = stages["journey_stage"].astype(str)
    order = ordered_categories(stages["stage"], "journey_stage")
    stages = stages.set_index("stage").loc[order].reset_index()
    hover = score_hovers(stages, metric, [_html(st) for st in stages["stage"]])
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
            name=m.short_label,
            mode="lines+markers",
            line={"color": GOOD, "width": 3},
            marker=low_base_marker(stages[m.base.low_base].astype(bool).to_numpy(), GOOD, 9),
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
    m = metric_def(metric)
    better = top["change"] > 0 if m.higher_is_better else top["change"] < 0
    labels = [
        f"{fmt.dim_label(d)}: {v}" for d, v in zip(top["dimension"], top["value"], strict=True)
    ]
    hover = [
        f"<b>{_html(lab)}</b><br>{m.short_label} "
        f"{fmt.value(metric, now)} (n = {int(nn):,}) vs {fmt.value(metric, prev)} "
        f"(n = {int(pn):,})<br>change {fmt.change(metric, ch)} · {fmt.significance(True)} (95%)"
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
    fig.update_xaxes(title_text=f"change in {m.short_label}", zeroline=True)
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
    m = metric_def(metric)
    root = "All"
    ids = [root, *nodes["id"].astype(str)]
    parents = ["", *[p if p else root for p in nodes["parent"].astype(str)]]
    labels = [root_label, *nodes["label"].astype(str)]
    values = [
        int(nodes.loc[nodes["level"] == 1, "responses"].sum()),
        *nodes["responses"].astype(int),
    ]
    supp = [root_value is None, *nodes[m.base.suppressed].astype(bool)]
    raw = [root_value, *nodes[m.value]]
    ns = [root_n, *nodes[m.n].astype(int)]
    lows = [False, *nodes[m.base.low_base].astype(bool)]
    held = [False, *(nodes["hidden"] if "hidden" in nodes else [False] * len(nodes))]
    hidden = [s or fmt.is_missing(v) for s, v in zip(supp, raw, strict=True)]
    scale, cmin, cmax, sentinel = _scale_with_suppressed(
        [v for v, h in zip(raw, hidden, strict=True) if not h], metric
    )
    color = [sentinel if h else float(v) for h, v in zip(hidden, raw, strict=True)]
    name = m.short_label
    info = [  # no CI inside a tile: the label must stay short
        fmt.hover_text(metric, v, n, suppressed=s, low_base=lb, withheld=bool(w), name=name)
        for v, n, s, lb, w in zip(raw, ns, supp, lows, held, strict=True)
    ]
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


# --- themes -------------------------------------------------------------------------------

MAX_THEME_BARS = 20
# Share of comments: the light neutral of the diverging scales → the first series colour.
SHARE_SCALE: list[list[Any]] = [[0.0, GOOD_HIGH[1][1]], [1.0, PALETTE[0]]]


def _theme_nps(r: pd.Series, side: str = "with") -> str:
    """The NPS of a theme's answers (`side` "with") or of the other comments ("without")
    in the one hover wording: value, CI, n; "n too small"; or why it is withheld."""
    return fmt.hover_text(
        "nps",
        r[f"nps_{side}"],
        int(r[f"nps_n_{side}"]),
        r.get(f"nps_{side}_ci_low"),
        r.get(f"nps_{side}_ci_high"),
        suppressed=bool(r["suppressed"]),
        withheld=bool(r.get("hidden", False)),
    )


def _mentions(r: pd.Series) -> str:
    """Hover lines of a theme cell: mentions of the comments, and NPS with the theme."""
    return (
        f"{int(r['n']):,} of {int(r['comments']):,} comments ({r['share']:.1f}%)<br>"
        f"NPS with the theme: {_theme_nps(r)}"
    )


def _theme_tested(r: pd.Series) -> bool:
    """Whether a theme's impact was tested: both sides shown and not low base."""
    untested = r["suppressed"] or r["low_base"] or r.get("hidden", False)
    return not untested and not pd.isna(r["significant"])


def theme_significance(r: pd.Series) -> str:
    """The test outcome of a theme's impact in the one significance wording, with why it
    was not tested: withheld, n too small or low base."""
    if r.get("hidden", False):
        reason = fmt.hidden()
    elif r["suppressed"]:
        reason = "n too small"
    else:
        reason = "low base"
    return fmt.significance(r["significant"] if _theme_tested(r) else None, reason)


def _theme_ticks(themes: Sequence[str], labels: Sequence[object]) -> dict[str, Any]:
    """A category axis of theme ids (two themes may share a label) showing their labels."""
    return {
        "type": "category",
        "tickmode": "array",
        "tickvals": list(themes),
        "ticktext": [_html(label) for label in labels],
    }


def _theme_bars(
    top: pd.DataFrame,
    x: pd.Series,
    colour: str | list[str],
    texts: list[str],
    hover: list[str],
    x_title: str,
) -> go.Figure:
    """Horizontal bars, one per theme (the first row of `top` at the bottom), 26 px a bar."""
    fig = go.Figure(
        go.Bar(
            x=list(x),
            y=list(top["theme"]),
            orientation="h",
            marker_color=colour,
            text=texts,
            textposition="auto",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_yaxes(**_theme_ticks(top["theme"], top["label"]))
    height = max(240, 26 * len(top) + 60)
    return _layout(
        fig, height, margin={"l": 8, "r": 8, "t": 8, "b": 8}, xaxis_title=x_title, showlegend=False
    )


def theme_volume_figure(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars of impact.theme_impact's frame (largest first): mentions per theme,
    the largest on top (at most MAX_THEME_BARS); hover: share, comments and NPS with."""
    top = frame.head(MAX_THEME_BARS).iloc[::-1]
    hover = [
        f"<b>{_html(r['label'])}</b><br>{int(r['n']):,} mentions · {r['share']:.1f}% of "
        f"{int(r['comments']):,} comments<br>NPS with the theme: {_theme_nps(r)}"
        for _, r in top.iterrows()
    ]
    texts = [f"{int(n):,} · {s:.1f}%" for n, s in zip(top["n"], top["share"], strict=True)]
    return _theme_bars(top, top["n"], GOOD, texts, hover, "comments mentioning the theme")


def theme_impact_figure(ranked: pd.DataFrame) -> go.Figure:
    """Horizontal bars of NPS with − NPS without per theme, in the order of `ranked`
    (impact.ranked_by_impact: most negative first) from the top; suppressed themes left
    out. Colour = direction when significant, grey when not (or not tested); ★ marks
    significance; hover: both NPS with their n, the impact, t and the test's outcome."""
    shown = ranked[~ranked["suppressed"].astype(bool)].head(MAX_THEME_BARS).iloc[::-1]
    colours, texts, hover = [], [], []
    for _, r in shown.iterrows():
        sig = _theme_tested(r) and bool(r["significant"])
        colours.append((BAD if r["nps_impact"] < 0 else GOOD) if sig else NEUTRAL)
        texts.append(f"{r['nps_impact']:+.1f}{' ★' if sig else ''} (n={int(r['n']):,})")
        t = "" if pd.isna(r["t"]) else f" · t = {r['t']:.2f}"
        hover.append(
            f"<b>{_html(r['label'])}</b><br>NPS with the theme: {_theme_nps(r)}<br>"
            f"NPS without: {_theme_nps(r, 'without')}<br>"
            f"impact {r['nps_impact']:+.1f} points{t} · {theme_significance(r)}"
        )
    fig = _theme_bars(
        shown,
        shown["nps_impact"],
        colours,
        texts,
        hover,
        "NPS impact (points): with the theme − without",
    )
    fig.add_vline(x=0, line_width=1, line_color=NEUTRAL)
    return fig


def theme_trend_figure(frame: pd.DataFrame) -> go.Figure:
    """impact.theme_trend's frame: one line per theme (in the frame's order) of the share of
    comments mentioning it per period; hover: n, comments and NPS with the theme."""
    fig = go.Figure()
    for i, (_, g) in enumerate(frame.groupby("theme", sort=False)):
        g = g.sort_values("period")
        label = _html(g["label"].iloc[0])
        hover = [
            f"<b>{label}</b> · {pd.Timestamp(r['period']):%d %b %Y}<br>{_mentions(r)}"
            for _, r in g.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                x=g["period"],
                y=g["share"],
                mode="lines+markers",
                name=label,
                line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(title_text="% of comments")
    return _layout(fig, 360, hovermode="closest")


def theme_heatmap_figure(frame: pd.DataFrame, themes: Sequence[str]) -> go.Figure:
    """impact.theme_matrix's frame for `themes` (rows, in that order) × touchpoints
    (alphabetical): colour = % of the touchpoint's comments mentioning the theme, from 0
    to the largest share; hover: n, comments and NPS with the theme. The touchpoints are
    escaped category values (no tick list: Plotly thins out labels that do not fit)."""
    cells = frame[frame["theme"].isin(list(themes))]
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
        hover[i][j] = f"<b>{_html(r['label'])}</b> at {_html(r['touchpoint'])}<br>{_mentions(r)}"
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[_html(t) for t in touchpoints],
            y=order,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=SHARE_SCALE,
            zmin=0.0,
            zmax=max(top, 1.0),
            colorbar={"title": {"text": "% of comments"}, "thickness": 12},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed", **_theme_ticks(order, [labels[t] for t in order]))
    height = max(300, 28 * len(order) + 140)
    return _layout(fig, height, margin={"l": 8, "r": 8, "t": 8, "b": 8}, hovermode="closest")
