"""The figure builders of pages/_shared/charts.py (everything before its "themes" section)
and fmt's hover wording, on small hand-made frames of the shapes the pages pass: counts
frames run through cxdata.scores.score_frame, so the score columns are the real ones.

Each test asserts on the returned Plotly figure: traces (number, type, names), x/y values
and their order, axes, the colour orientation (blue = the good end), CI bands, low-base
markers (open circles) and the exact hover texts, including "n too small", withheld nodes
and data-derived labels escaped (a segment called "<b>x</b>" is drawn as text, never as
HTML)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.colors import sample_colorscale

from cxdata import charts, fmt, queries
from cxdata.config import Thresholds
from cxdata.scores import metric_columns, score_frame

TH = Thresholds(min_n=10, low_base=30)
HTML = "<b>x</b>"  # a segment / touchpoint / stage name that is HTML
ESCAPED = "&lt;b&gt;x&lt;/b&gt;"
W1, W2, W3 = pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13"), pd.Timestamp("2025-01-20")
BLUE, RED = "#2F6FD0", "#C8553D"  # the good and bad ends of the diverging scales


# --- helpers -----------------------------------------------------------------------------


def nps_counts(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A counts frame of the NPS base: each row's keys (period, dimensions) plus
    responses, nps_n, promoters, detractors given as r, n, p, d."""
    return pd.DataFrame(
        [
            {
                **{k: v for k, v in row.items() if k not in "rnpd"},
                "responses": row["r"],
                "nps_n": row["n"],
                "promoters": row["p"],
                "detractors": row["d"],
            }
            for row in rows
        ]
    )


def nps_scores(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return score_frame(nps_counts(rows), TH)


def single_trend() -> pd.DataFrame:
    """A weekly NPS trend, not in period order: a normal week (n=200), a low-base week
    (n=20) and a suppressed week (n=5)."""
    return nps_scores(
        [
            {"period": W2, "r": 25, "n": 20, "p": 8, "d": 4},
            {"period": W1, "r": 220, "n": 200, "p": 90, "d": 40},
            {"period": W3, "r": 6, "n": 5, "p": 2, "d": 1},
        ]
    )


def split_trend(groups: tuple[str, ...] = (HTML, "Oslo", "Other")) -> pd.DataFrame:
    """queries.trend(by="region", top_n=...) over two weeks, sorted by period and region:
    Other has the most answers, Oslo next, "<b>x</b>" is low base then suppressed, and an
    optional Bergen is between Oslo and "<b>x</b>"."""
    sizes = {
        "Other": ({"r": 250, "n": 240, "p": 100, "d": 50},) * 2,
        "Oslo": ({"r": 150, "n": 140, "p": 70, "d": 20},) * 2,
        "Bergen": ({"r": 50, "n": 45, "p": 20, "d": 10},) * 2,
        HTML: ({"r": 30, "n": 25, "p": 10, "d": 5}, {"r": 30, "n": 8, "p": 3, "d": 2}),
    }
    rows = [
        {"period": period, "region": g, **sizes[g][i]}
        for i, period in enumerate((W1, W2))
        for g in sorted(groups)
    ]
    return nps_scores(rows)


def _shown(trace: dict[str, Any], key: str) -> bool:
    """Whether a trace property is text Plotly draws (customdata only via a template)."""
    if key != "customdata":
        return True
    templates = f"{trace.get('hovertemplate', '')}{trace.get('texttemplate', '')}"
    return "%{customdata}" in templates


# Data the figure keeps as category values / ids (selections return them), never drawn.
_NOT_DRAWN = frozenset({"x", "y", "ids", "parents", "tickvals", "categoryarray"})


def drawn_texts(fig: go.Figure) -> list[str]:
    """Every string of the figure that Plotly may draw: names, texts, hovers, labels,
    ticks, titles (not category values, ids or parents, which are shown via ticktext /
    labels)."""
    out: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, str):
            out.append(obj)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                if k not in _NOT_DRAWN:
                    walk(v)
        elif isinstance(obj, list | tuple | np.ndarray):
            for v in obj:
                walk(v)

    spec = fig.to_plotly_json()
    for trace in spec["data"]:
        walk({k: v for k, v in trace.items() if _shown(trace, k)})
    walk(spec["layout"])
    return out


def assert_escaped(fig: go.Figure) -> None:
    texts = drawn_texts(fig)
    assert not [t for t in texts if HTML in t]
    assert any(ESCAPED in t for t in texts)


def scale_ends(scale: Any) -> tuple[str, str]:
    """The colours at 0 and 1 of a colour scale."""
    return scale[0][1], scale[-1][1]


def symbols(trace: Any) -> list[str]:
    return list(trace.marker.symbol)


# --- fmt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kw", "expected"),
    [
        (("nps", 24.94, 1234, 20.06, 29.54), {"name": "NPS"},
         "NPS 24.9 (95% CI 20.1 – 29.5) · n = 1,234"),
        (("nps", -3.0, 25, -30.0, 24.0), {"low_base": True},
         "-3.0 (95% CI -30.0 – 24.0) · n = 25 · low base"),
        (("nps", 12.0, 40), {"name": "NPS"}, "NPS 12.0 · n = 40"),
        (("csat", 76.44, 300, 71.2, 81.0), {}, "76.4% (95% CI 71.2% – 81.0%) · n = 300"),
        (("ces", 4.954, 88, 4.6, 5.3), {"name": "CES"}, "CES 4.95 (95% CI 4.60 – 5.30) · n = 88"),
        (("nps", np.nan, 7, np.nan, np.nan), {"suppressed": True}, "n too small (n=7)"),
        (("nps", None, 12), {"name": "NPS"}, "n too small (n=12)"),
        (("nps", np.nan, 1500), {"suppressed": True, "withheld": True},
         "hidden: would reveal a small group (n=1,500)"),
        (("nps", 30.0, 45, 10.0, 50.0), {"withheld": True},
         "hidden: would reveal a small group (n=45)"),
    ],
)  # fmt: skip
def test_hover_text_wording(args: tuple[Any, ...], kw: dict[str, Any], expected: str) -> None:
    assert fmt.hover_text(*args, **kw) == expected


@pytest.mark.parametrize(
    ("significant", "reason", "expected"),
    [
        (True, "low base", "significant"),
        (np.True_, "low base", "significant"),
        (False, "low base", "not significant"),
        (None, "low base", "not tested (low base)"),
        (pd.NA, "n too small", "not tested (n too small)"),
        (float("nan"), "no answers before", "not tested (no answers before)"),
    ],
)
def test_significance_wording(significant: object, reason: str, expected: str) -> None:
    assert fmt.significance(significant, reason) == expected


def test_significance_defaults_to_low_base() -> None:
    assert fmt.significance(None) == "not tested (low base)"


# --- score_hovers, colour helpers -------------------------------------------------------


def test_score_hovers_one_per_row_with_label_and_name() -> None:
    frame = single_trend()
    hovers = charts.score_hovers(frame, "nps", ["w2", "w1", "w3"], name="NPS")
    assert hovers == [
        "w2: NPS 20.0 (95% CI -13.1 – 47.9) · n = 20 · low base",
        "w1: NPS 25.0 (95% CI 14.1 – 35.2) · n = 200",
        "w3: n too small (n=5)",
    ]


def test_score_hovers_withheld_rows_of_a_hidden_column() -> None:
    frame = single_trend().assign(hidden=[False, True, False])
    hovers = charts.score_hovers(frame, "nps", ["a", "b", "c"])
    assert hovers == [
        "a: 20.0 (95% CI -13.1 – 47.9) · n = 20 · low base",
        "b: hidden: would reveal a small group (n=200)",
        "c: n too small (n=5)",
    ]


def test_score_hovers_needs_one_label_per_row() -> None:
    with pytest.raises(ValueError):
        charts.score_hovers(single_trend(), "nps", ["only one"])


@pytest.mark.parametrize(
    ("metric", "z", "expected"),
    [
        ("nps", [[-5.0, 3.0]], {"zmin": -10.0, "zmax": 10.0}),  # minimum span 20, around 0
        ("nps", [[-40.0, 25.0, np.nan]], {"zmin": -40.0, "zmax": 40.0}),  # symmetric
        ("nps", [[5.0, 30.0]], {"zmin": -30.0, "zmax": 30.0}),  # 0 stays the middle
        ("csat", [[70.0, 72.0, 71.0, 70.5]], {"zmin": 66.0, "zmax": 76.0}),  # widened to 10
        ("csat", [[50.0, np.nan, 90.0, 60.0, 70.0]], {"zmin": 50.0, "zmax": 90.0}),  # observed
        ("ces", [[4.9, 5.1, 5.0, 5.0]], {"zmin": 4.5, "zmax": 5.5}),  # CES: span 1
        # fewer than 4 cells and no reference: the metric's full range, never a span that
        # makes a lone cell the neutral middle whatever its value
        ("csat", [[70.0, 72.0]], {"zmin": 0.0, "zmax": 100.0}),
        ("ces", [[2.0]], {"zmin": 1.0, "zmax": 7.0}),
        ("friction", [[12.0]], {"zmin": 0.0, "zmax": 100.0}),
        ("friction", [[np.nan, np.nan]], {}),  # nothing to colour
    ],
)
def test_color_range(metric: str, z: list[list[float]], expected: dict[str, float]) -> None:
    got = charts.color_range(np.array(z), metric)
    assert got == pytest.approx(expected)
    assert set(got) == set(expected)


@pytest.mark.parametrize(
    ("metric", "good_end"),
    [
        ("nps", 1.0),
        ("csat", 1.0),
        ("ces", 1.0),  # 7 = very easy
        ("promoter_pct", 1.0),
        ("friction", 0.0),  # lower is better
        ("detractor_pct", 0.0),
    ],
)
def test_colorscale_is_blue_at_the_good_end(metric: str, good_end: float) -> None:
    scale = charts.colorscale(metric)
    low, high = scale_ends(scale)
    assert (low, high) == ((RED, BLUE) if good_end == 1.0 else (BLUE, RED))
    assert [pos for pos, _ in scale] == [0.0, 0.5, 1.0]


# --- sparkline ---------------------------------------------------------------------------


def test_sparkline_is_one_bare_line_with_the_given_hovers() -> None:
    hover = ["06 Jan 2025: 25.0", "13 Jan 2025: n too small (n=5)", "20 Jan 2025: 20.0"]
    fig = charts.sparkline([W1, W2, W3], [25.0, np.nan, 20.0], hover, color=charts.BAD)
    (trace,) = fig.data
    assert trace.type == "scatter" and trace.mode == "lines"
    assert list(trace.x) == [W1, W2, W3]
    assert list(trace.y[::2]) == [25.0, 20.0] and np.isnan(trace.y[1])
    assert list(trace.customdata) == hover
    assert trace.hovertemplate == "%{customdata}<extra></extra>"
    assert trace.connectgaps is False  # a suppressed period is a gap, not interpolated
    assert trace.line.color == charts.BAD and trace.line.width == 2
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert fig.layout.height == 56 and fig.layout.showlegend is False
    assert fig.layout.hovermode == "x"
    assert (fig.layout.margin.l, fig.layout.margin.r) == (0, 0)


def test_sparkline_defaults_to_the_good_colour() -> None:
    fig = charts.sparkline([1, 2], [1.0, 2.0], ["a", "b"])
    assert fig.data[0].line.color == charts.GOOD


# --- trend_figure ------------------------------------------------------------------------


def test_trend_single_line_with_band_low_base_and_suppressed_hovers() -> None:
    fig = charts.trend_figure(single_trend(), "nps", None)
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    band, line = fig.data
    # the CI band: out along the highs, back along the lows, in period order
    assert band.fill == "toself" and band.name == "NPS CI"
    assert band.showlegend is False and band.hoverinfo == "skip" and band.line.width == 0
    assert band.fillcolor == "rgba(58,111,216,0.15)"  # PALETTE[0] at 15%
    assert list(band.x) == [W1, W2, W2, W1]  # the suppressed W3 has no CI: not in the band
    high, low = [round(v, 1) for v in band.y[:2]], [round(v, 1) for v in band.y[2:]]
    assert high == [35.2, 47.9] and low == [-13.1, 14.1]
    assert band.mode == "lines"
    # the line
    assert line.mode == "lines+markers" and line.name == "NPS" and line.legendgroup == "NPS"
    assert band.legendgroup == "NPS"
    assert list(line.x) == [W1, W2, W3]
    assert list(line.y[:2]) == [25.0, 20.0] and np.isnan(line.y[2])
    assert line.line.color == charts.PALETTE[0]
    assert list(line.customdata) == [
        "06 Jan 2025: 25.0 (95% CI 14.1 – 35.2) · n = 200",
        "13 Jan 2025: 20.0 (95% CI -13.1 – 47.9) · n = 20 · low base",
        "20 Jan 2025: n too small (n=5)",
    ]
    assert line.hovertemplate == "%{customdata}<extra></extra>"
    # low base: an open, larger circle; the others filled
    assert symbols(line) == ["circle", "circle-open", "circle"]
    assert list(line.marker.size) == [6, 10, 6]
    # an open symbol is drawn in marker.color: a transparent one would hide it
    assert list(line.marker.color) == [charts.PALETTE[0]] * 3
    assert line.marker.line.color == charts.PALETTE[0]
    assert fig.layout.yaxis.title.text == "NPS"
    assert fig.layout.height == 420 and fig.layout.hovermode == "closest"
    assert "yaxis2" not in fig.to_plotly_json()["layout"]  # no KPI, no second axis


def test_trend_of_another_metric_reads_its_own_columns() -> None:
    counts = pd.DataFrame(
        {"period": [W1, W2], "responses": [120, 60], "csat_n": [100, 50],
         "csat_top2": [80, 30], "csat_fives": [40, 10]}
    )  # fmt: skip
    fig = charts.trend_figure(score_frame(counts, TH), "csat", None, height=300)
    line = fig.data[1]
    assert line.name == "CSAT" and list(line.y) == [80.0, 60.0]
    assert line.customdata[0] == "06 Jan 2025: 80.0% (95% CI 71.1% – 86.7%) · n = 100"
    assert fig.layout.yaxis.title.text == "CSAT (top-2-box %)" and fig.layout.height == 300


def test_trend_split_orders_by_volume_with_other_last_and_escapes_names() -> None:
    fig = charts.trend_figure(split_trend(), "nps", "region")
    assert len(fig.data) == 6  # three lines, each with its band (MAX_BANDS = 3)
    bands, lines = fig.data[0::2], fig.data[1::2]
    assert [t.name for t in lines] == ["Oslo", ESCAPED, "Other"]  # by volume, Other last
    assert [t.name for t in bands] == ["Oslo CI", f"{ESCAPED} CI", "Other CI"]
    assert all(b.fill == "toself" and b.showlegend is False for b in bands)
    assert [b.legendgroup for b in bands] == [t.legendgroup for t in lines]
    assert [t.line.color for t in lines] == list(charts.PALETTE[:3])
    assert [list(t.x) for t in lines] == [[W1, W2]] * 3
    assert list(lines[1].customdata) == [
        f"{ESCAPED}: 06 Jan 2025: 20.0 (95% CI -9.8 – 45.5) · n = 25 · low base",
        f"{ESCAPED}: 13 Jan 2025: n too small (n=8)",
    ]
    assert lines[0].customdata[0] == "Oslo: 06 Jan 2025: 35.7 (95% CI 23.2 – 46.8) · n = 140"
    assert lines[2].customdata[1] == "Other: 13 Jan 2025: 20.8 (95% CI 11.0 – 30.2) · n = 240"
    assert symbols(lines[1]) == ["circle-open", "circle"]
    assert symbols(lines[0]) == ["circle", "circle"]
    assert_escaped(fig)


def test_trend_split_beyond_max_bands_draws_lines_only() -> None:
    fig = charts.trend_figure(split_trend((HTML, "Bergen", "Oslo", "Other")), "nps", "region")
    assert len(fig.data) == 4 and all(t.mode == "lines+markers" for t in fig.data)
    assert [t.name for t in fig.data] == ["Oslo", "Bergen", ESCAPED, "Other"]
    assert not any(t.fill == "toself" for t in fig.data)


def test_trend_kpi_series_on_a_right_axis() -> None:
    kpi = pd.DataFrame(
        {
            "metric": ["revenue"] * 2,
            "date": [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")],
            "value": [1.5, 1.75],
            "series": [3, 2],
            "target": [np.nan] * 2,
            "unit": ["<i>MNOK</i>"] * 2,
        }
    )
    fig = charts.trend_figure(single_trend(), "nps", None, kpi, "Revenue & <u>co</u>")
    assert len(fig.data) == 3
    extra = fig.data[2]
    name = "Revenue &amp; &lt;u&gt;co&lt;/u&gt;"
    unit = "&lt;i&gt;MNOK&lt;/i&gt;"
    assert extra.name == f"{name} (right axis)" and extra.yaxis == "y2"
    assert extra.mode == "lines+markers" and extra.marker.symbol == "diamond"
    assert extra.line.dash == "dot" and extra.line.color == charts.KPI_LINE
    assert list(extra.y) == [1.5, 1.75]
    assert list(extra.customdata) == [
        f"{name} Jan 2025: 1.50 {unit} (mean of 3 series)",
        f"{name} Feb 2025: 1.75 {unit} (mean of 2 series)",
    ]
    axis = fig.layout.yaxis2
    assert (axis.overlaying, axis.side, axis.showgrid) == ("y", "right", False)
    assert axis.title.text == f"{name} ({unit})"
    assert not [t for t in drawn_texts(fig) if "<i>" in t or "<u>" in t]


def test_trend_empty_kpi_adds_no_axis() -> None:
    kpi = pd.DataFrame(columns=["metric", "date", "value", "series", "target", "unit"])
    fig = charts.trend_figure(single_trend(), "nps", None, kpi, "Revenue")
    assert len(fig.data) == 2 and "yaxis2" not in fig.to_plotly_json()["layout"]


def test_trend_ci_bands_draw_no_markers() -> None:
    for fig in (
        charts.trend_figure(single_trend(), "nps", None),
        charts.trend_figure(split_trend(), "nps", "region"),
    ):
        bands = [t for t in fig.data if t.fill == "toself"]
        assert bands
        assert all(t.mode in ("lines", "none") for t in bands)


def test_trend_ci_band_is_a_closed_shape_around_each_run_of_shown_points() -> None:
    weeks = pd.date_range("2025-01-06", periods=5, freq="W-MON")
    rows = [{"period": p, "r": 110, "n": 100, "p": 40, "d": 20} for p in weeks]
    rows[2] = {"period": weeks[2], "r": 6, "n": 5, "p": 2, "d": 1}  # suppressed mid-trend
    band = charts.trend_figure(nps_scores(rows), "nps", None).data[0]
    x, y = list(band.x), np.asarray(band.y, dtype=float)
    if band.connectgaps:
        segments = [[xi for xi, yi in zip(x, y, strict=True) if not np.isnan(yi)]]
    else:
        segments = [[]]
        for xi, yi in zip(x, y, strict=True):
            if not np.isnan(yi):
                segments[-1].append(xi)
            elif segments[-1]:
                segments.append([])
        segments = [s for s in segments if s]
    # each closed shape goes out along the CI highs and back along the lows
    assert all(len(s) > 1 and s == s[::-1] for s in segments)


def test_trend_lone_point_between_gaps_gets_an_error_bar_instead_of_a_flat_band() -> None:
    weeks = pd.date_range("2025-01-06", periods=5, freq="W-MON")
    rows = [{"period": p, "r": 110, "n": 100, "p": 40, "d": 20} for p in weeks]
    rows[1] = rows[3] = {"period": weeks[1], "r": 6, "n": 5, "p": 2, "d": 1}
    rows[3] = {**rows[3], "period": weeks[3]}
    frame = nps_scores(rows)
    band, line = charts.trend_figure(frame, "nps", None).data
    assert band.mode == "lines" and band.connectgaps is False
    # three runs of one point each: each its own (zero-width) shape, None between them
    assert [y is None for y in band.y] == [False, False, True, False, False, True, False, False]
    up = np.asarray(line.error_y.array, dtype=float)
    lone = (frame["nps_ci_high"] - frame["nps"]).to_numpy()
    assert np.allclose(up[[0, 2, 4]], lone[[0, 2, 4]]) and np.isnan(up[[1, 3]]).all()
    # with a neighbour, a point's CI is in the band: no error bars at all
    assert charts.trend_figure(single_trend(), "nps", None).data[1].error_y.array is None


def coverage_trend() -> pd.DataFrame:
    """A monthly NPS trend over a range from 31 Jan to 30 Mar: Jan (1 of 31 days) and Mar
    (30 of 31 days) partial, Feb whole."""
    months = [pd.Timestamp(f"2025-0{m}-01") for m in (1, 2, 3)]
    frame = nps_scores(
        [{"period": p, "r": 300, "n": 280, "p": 120, "d": 60} for p in months]
    )
    return queries.with_coverage(frame, "month", dt.date(2025, 1, 31), dt.date(2025, 3, 30))


def test_trend_partial_periods_are_open_squares_with_days_in_the_hover() -> None:
    fig = charts.trend_figure(coverage_trend(), "nps", None, grain="month")
    line = fig.data[1]
    assert symbols(line) == ["square-open", "circle", "square-open"]
    assert list(line.marker.color) == [charts.PALETTE[0]] * 3  # open symbols: the outline
    assert list(line.customdata) == [
        "Jan 2025 (partial: 1 of 31 days): 21.4 (95% CI 12.2 – 30.2) · n = 280",
        "Feb 2025: 21.4 (95% CI 12.2 – 30.2) · n = 280",
        "Mar 2025 (partial: 30 of 31 days): 21.4 (95% CI 12.2 – 30.2) · n = 280",
    ]
    assert fig.layout.xaxis.tickformat == "%b %Y"


def test_trend_quarters_are_ticked_and_hovered_as_quarters() -> None:
    quarters = [pd.Timestamp("2024-10-01"), pd.Timestamp("2025-01-01")]
    frame = nps_scores([{"period": q, "r": 300, "n": 280, "p": 120, "d": 60} for q in quarters])
    for fig in (
        charts.trend_figure(frame, "nps", None, grain="quarter"),
        charts.shares_figure(frame, grain="quarter"),
    ):
        axis = fig.layout.xaxis
        assert axis.tickmode == "array" and list(axis.ticktext) == ["Q4 2024", "Q1 2025"]
        assert [pd.Timestamp(v) for v in axis.tickvals] == quarters
    line = charts.trend_figure(frame, "nps", None, grain="quarter").data[1]
    assert [h.split(":")[0] for h in line.customdata] == ["Q4 2024", "Q1 2025"]
    shares = charts.shares_figure(frame, grain="quarter").data[2]
    assert shares.customdata[0] == "Promoters (9–10) Q4 2024: 42.9% of n = 280"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2025-01-06", "week of 06 Jan 2025"),
        ("2025-01-06", "06 Jan 2025"),
        ("2025-03-01", "Mar 2025"),
        ("2025-07-01", "Q3 2025"),
    ],
)
def test_period_label_per_grain(start: str, expected: str) -> None:
    grain = {"week": "week", "06 J": "day", "Mar ": "month", "Q3 2": "quarter"}[expected[:4]]
    assert fmt.period_label(pd.Timestamp(start), grain) == expected


def test_with_coverage_counts_the_days_of_each_period_in_range() -> None:
    frame = pd.DataFrame(
        {"period": pd.to_datetime(["2024-12-30", "2025-01-06", "2025-01-13", "2025-02-24"])}
    )
    out = queries.with_coverage(frame, "week", dt.date(2025, 1, 1), dt.date(2025, 2, 25))
    # plain arithmetic: days of [period, period + 7) inside [1 Jan, 25 Feb]
    expected = [
        len(pd.date_range(max(p, pd.Timestamp("2025-01-01")),
                          min(p + pd.Timedelta(days=6), pd.Timestamp("2025-02-25"))))
        for p in frame["period"]
    ]  # fmt: skip
    assert list(out["days"]) == expected == [5, 7, 7, 2]
    assert list(out["period_days"]) == [7] * 4
    months = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-10-01"])})
    q = queries.with_coverage(months, "quarter", dt.date(2024, 1, 1), dt.date(2024, 11, 15))
    assert list(q["period_days"]) == [91, 92] and list(q["days"]) == [91, 46]


def test_kpi_line_names_the_filters_it_ignores() -> None:
    kpi = pd.DataFrame(
        {"metric": ["churn"], "date": [pd.Timestamp("2025-01-01")], "value": [2.5],
         "series": [4], "target": [np.nan], "unit": ["%"]}
    )  # fmt: skip
    fig = charts.trend_figure(
        single_trend(), "nps", None, kpi, "Churn", kpi_ignored=("customer_type", "<b>x</b>")
    )
    extra = fig.data[-1]
    note = "not narrowed by Customer type, &lt;b&gt;x&lt;/b&gt;"
    assert extra.name == f"Churn (right axis) · {note}"
    assert list(extra.customdata) == [f"Churn Jan 2025: 2.50 % (mean of 4 series; {note})"]
    assert fmt.not_narrowed(()) == ""


# --- shares_figure -----------------------------------------------------------------------


def test_shares_stack_detractors_passives_promoters_per_period() -> None:
    frame = nps_scores(
        [
            {"period": W2, "r": 25, "n": 20, "p": 8, "d": 4},
            {"period": W1, "r": 1300, "n": 1200, "p": 540, "d": 240},
            {"period": W3, "r": 6, "n": 5, "p": 2, "d": 1},
        ]
    )
    fig = charts.shares_figure(frame)
    assert [t.type for t in fig.data] == ["bar"] * 3
    assert [t.name for t in fig.data] == ["Detractors (0–6)", "Passives (7–8)", "Promoters (9–10)"]
    assert [t.marker.color for t in fig.data] == [charts.DETRACTOR, charts.PASSIVE, charts.PROMOTER]
    assert charts.PROMOTER == BLUE  # promoters are the good, blue end
    det, pas, pro = fig.data
    assert all(list(t.x) == [W1, W2, W3] for t in fig.data)  # period order
    assert list(det.y[:2]) == [20.0, 20.0] and list(pas.y[:2]) == [35.0, 40.0]
    assert list(pro.y[:2]) == [45.0, 40.0]
    assert all(np.isnan(t.y[2]) for t in fig.data)  # suppressed: no bar
    assert list(det.customdata) == [
        "Detractors (0–6) 06 Jan 2025: 20.0% of n = 1,200",
        "Detractors (0–6) 13 Jan 2025: 20.0% of n = 20",
        "n too small (n=5)",
    ]
    assert pro.customdata[0] == "Promoters (9–10) 06 Jan 2025: 45.0% of n = 1,200"
    assert pas.hovertemplate == "%{customdata}<extra></extra>"
    assert fig.layout.barmode == "stack" and fig.layout.bargap == 0.15
    assert tuple(fig.layout.yaxis.range) == (0, 100)
    assert fig.layout.yaxis.title.text == "share of NPS answers (%)"
    assert fig.layout.height == 300


# --- heatmap_figure ----------------------------------------------------------------------


def friction_cells() -> pd.DataFrame:
    """queries.friction_matrix(rows="touchpoint", cols="journey_stage", metric="friction")
    for five cells: (touchpoint, stage, responses, friction_n, friction_events)."""
    cells = [
        ("checkout", "purchase", 220, 200, 50),  # 25.0%
        ("parcel", "awareness", 45, 40, 6),  # 15.0%
        ("checkout", "delivery", 25, 20, 10),  # 50.0%, low base
        (HTML, "delivery", 120, 100, 10),  # 10.0%
        (HTML, "support", 6, 5, 1),  # n too small
    ]
    counts = pd.DataFrame(
        [
            {"touchpoint": tp, "journey_stage": st, "responses": r, "friction_n": n,
             "friction_events": e}
            for tp, st, r, n, e in cells
        ]
    )  # fmt: skip
    return matrix_of(counts, "touchpoint", "journey_stage", "friction")


def matrix_of(counts: pd.DataFrame, rows: str, cols: str, metric: str) -> pd.DataFrame:
    """What queries.friction_matrix makes of a breakdown's counts."""
    frame = score_frame(counts, TH)
    frame = frame[frame["friction_n"] > 0] if metric == "friction" else frame
    out = pd.concat([frame[[rows, cols, "responses"]], metric_columns(frame, metric)], axis=1)
    out["friction"] = frame["friction"]
    return out.reset_index(drop=True)


def test_heatmap_cells_in_journey_order_with_values_and_grey_suppressed() -> None:
    fig = charts.heatmap_figure(friction_cells(), "touchpoint", "journey_stage", "friction")
    assert [t.type for t in fig.data] == ["heatmap", "heatmap", "scatter"]
    heat, grey, cells = fig.data
    cols = ["awareness", "purchase", "delivery", "support"]  # journey order
    rows = ["parcel", "checkout", HTML]  # by the stage where most of their answers are
    assert list(heat.x) == cols and list(heat.y) == rows
    z = np.asarray(heat.z, dtype=float)
    assert np.array_equal(
        z,
        [[15.0, np.nan, np.nan, np.nan], [np.nan, 25.0, 50.0, np.nan],
         [np.nan, np.nan, 10.0, np.nan]],
        equal_nan=True,
    )  # fmt: skip
    assert [list(r) for r in heat.text] == [
        ["15.0%", "", "", ""],
        ["", "25.0%", "50.0%", ""],
        ["", "", "10.0%", ""],
    ]
    # friction: lower is better, so blue at zmin; the colours span the observed range
    assert scale_ends(heat.colorscale) == (BLUE, RED)
    assert (heat.zmin, heat.zmax) == (10.0, 50.0)
    assert heat.colorbar.title.text == "Friction rate" and heat.hoverinfo == "skip"
    # the suppressed cell: grey, "n too small", no value
    assert list(grey.x) == cols and list(grey.y) == rows and grey.showscale is False
    grey_z = np.asarray(grey.z, dtype=float)
    assert grey_z[2, 3] == 1.0 and np.isnan(np.delete(grey_z.ravel(), 11)).all()
    assert grey.text[2][3] == "n too small" and grey.text[0][0] == ""
    assert scale_ends(grey.colorscale) == (charts.SUPPRESSED, charts.SUPPRESSED)
    # one invisible, clickable marker per cell with answers, carrying the hover
    assert cells.mode == "markers" and cells.marker.opacity == 0 and cells.showlegend is False
    assert list(cells.x) == ["awareness", "purchase", "delivery", "delivery", "support"]
    assert list(cells.y) == ["parcel", "checkout", "checkout", HTML, HTML]
    assert list(cells.customdata) == [
        "parcel\x1fawareness", "checkout\x1fpurchase", "checkout\x1fdelivery",
        f"{HTML}\x1fdelivery", f"{HTML}\x1fsupport",
    ]  # fmt: skip
    tail = "answers · click to read the comments"
    assert list(cells.text) == [
        f"<b>parcel</b> × awareness<br>Friction rate 15.0% (95% CI 7.1% – 29.1%) · n = 40"
        f"<br>45 {tail}",
        f"<b>checkout</b> × purchase<br>Friction rate 25.0% (95% CI 19.5% – 31.4%) · n = 200"
        f"<br>220 {tail}",
        f"<b>checkout</b> × delivery<br>Friction rate 50.0% (95% CI 29.9% – 70.1%) · n = 20"
        f" · low base<br>25 {tail}",
        f"<b>{ESCAPED}</b> × delivery<br>Friction rate 10.0% (95% CI 5.5% – 17.4%) · n = 100"
        f"<br>120 {tail}",
        f"<b>{ESCAPED}</b> × support<br>n too small (n=5)<br>6 {tail}",
    ]
    assert cells.hovertemplate == "%{text}<extra></extra>"
    assert charts.heatmap_cell({"points": [{"customdata": cells.customdata[3]}]}) == (
        HTML,
        "delivery",
    )


def test_heatmap_axes_keep_categories_and_show_escaped_ticks() -> None:
    fig = charts.heatmap_figure(friction_cells(), "touchpoint", "journey_stage", "friction")
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert x.type == "category" and x.side == "top"
    # level headers where they fit, turned where they would overlap (a phone: issue 12, 16)
    assert x.tickangle is None and list(x.autotickangles) == [0, -35, -90]
    assert x.title.text == "Journey stage" and y.title.text == "Touchpoint"
    assert list(x.categoryarray) == ["awareness", "purchase", "delivery", "support"]
    assert list(y.categoryarray) == ["parcel", "checkout", HTML]
    assert list(y.tickvals) == ["parcel", "checkout", HTML]
    assert list(y.ticktext) == ["parcel", "checkout", ESCAPED]
    assert y.autorange == "reversed"  # the first row on top
    assert fig.layout.height == 320 and fig.layout.hovermode == "closest"
    assert fig.layout.hoverdistance == -1
    assert_escaped(fig)


def test_heatmap_nps_by_region_blue_high_symmetric_and_by_volume() -> None:
    cells = [  # touchpoint, region, responses, nps_n, promoters, detractors
        ("checkout", "Oslo", 60, 50, 16, 10),  # 12.0
        ("checkout", "Bergen", 40, 40, 10, 14),  # -10.0
        ("parcel", "Oslo", 200, 200, 80, 20),  # 30.0
        ("parcel", "Bergen", 100, 100, 25, 30),  # -5.0
    ]
    counts = pd.DataFrame(
        [
            {"touchpoint": tp, "region": rg, "responses": r, "nps_n": n, "promoters": p,
             "detractors": d, "friction_n": n, "friction_events": d}
            for tp, rg, r, n, p, d in cells
        ]
    )  # fmt: skip
    fig = charts.heatmap_figure(matrix_of(counts, "touchpoint", "region", "nps"),
                                "touchpoint", "region", "nps")  # fmt: skip
    assert len(fig.data) == 2  # nothing suppressed: no grey layer
    heat = fig.data[0]
    assert list(heat.x) == ["Oslo", "Bergen"] and list(heat.y) == ["parcel", "checkout"]
    assert np.array_equal(np.asarray(heat.z, dtype=float), [[30.0, -5.0], [12.0, -10.0]])
    assert [list(r) for r in heat.text] == [["30.0", "-5.0"], ["12.0", "-10.0"]]
    assert scale_ends(heat.colorscale) == (RED, BLUE)  # NPS: higher is better
    assert (heat.zmin, heat.zmax) == (-30.0, 30.0)  # 0 is the neutral middle
    assert heat.colorbar.title.text == "NPS"
    assert fig.layout.xaxis.title.text == "Region"
    assert fig.data[1].text[0].startswith("<b>parcel</b> × Oslo<br>NPS 30.0 (95% CI ")


# --- journey_figure ----------------------------------------------------------------------


def journey_stages() -> pd.DataFrame:
    """queries.breakdown(["journey_stage"]): by volume, not journey order; a low-base,
    a suppressed and an unknown (HTML) stage."""
    rows = [
        ("support", 400, 380, 150, 100),
        ("awareness", 200, 190, 100, 30),
        ("purchase", 150, 140, 70, 20),
        (HTML, 50, 45, 20, 10),
        ("delivery", 25, 22, 10, 5),
        ("renewal", 8, 6, 3, 1),
    ]
    return nps_scores([{"journey_stage": s, "r": r, "n": n, "p": p, "d": d}
                       for s, r, n, p, d in rows])  # fmt: skip


def test_journey_stages_in_order_with_answers_bars_and_score_line() -> None:
    fig = charts.journey_figure(journey_stages(), "nps")
    order = ["awareness", "purchase", "delivery", "support", "renewal", HTML]  # unknown last
    assert [t.type for t in fig.data] == ["bar", "scatter"]
    bars, line = fig.data
    assert bars.name == "Answers (right axis)" and bars.yaxis == "y2"
    assert list(bars.x) == order and list(bars.y) == [200, 150, 25, 400, 8, 50]
    assert list(bars.customdata) == [
        "awareness: 200 answers", "purchase: 150 answers", "delivery: 25 answers",
        "support: 400 answers", "renewal: 8 answers", f"{ESCAPED}: 50 answers",
    ]  # fmt: skip
    assert line.name == "NPS" and line.mode == "lines+markers" and list(line.x) == order
    assert line.line.color == charts.GOOD
    values = [round(v, 1) for v in line.y]
    assert values[:4] + values[5:] == [36.8, 35.7, 22.7, 13.2, 22.2]
    assert np.isnan(line.y[4])  # suppressed stage: a gap
    assert list(line.customdata) == [
        "awareness: 36.8 (95% CI 25.8 – 46.7) · n = 190",
        "purchase: 35.7 (95% CI 23.2 – 46.8) · n = 140",
        "delivery: 22.7 (95% CI -10.9 – 50.9) · n = 22 · low base",
        "support: 13.2 (95% CI 5.0 – 21.1) · n = 380",
        "renewal: n too small (n=6)",
        f"{ESCAPED}: 22.2 (95% CI -1.3 – 43.0) · n = 45",
    ]
    # 95% CI as asymmetric error bars: up to ci_high, down to ci_low
    err = line.error_y
    assert err.type == "data" and err.symmetric is False
    up = [round(v, 1) for v in err.array]
    down = [round(v, 1) for v in err.arrayminus]
    assert up[:4] == [9.9, 11.0, 28.1, 7.9] and down[:4] == [11.0, 12.5, 33.6, 8.1]
    assert np.isnan(err.array[4]) and np.isnan(err.arrayminus[4])
    assert symbols(line) == ["circle", "circle", "circle-open", "circle", "circle", "circle"]
    assert list(line.marker.size) == [9, 9, 13, 9, 9, 9]


def test_journey_axes() -> None:
    fig = charts.journey_figure(journey_stages(), "nps", height=400)
    lay = fig.layout
    assert lay.yaxis.title.text == "NPS"
    assert lay.yaxis2.overlaying == "y" and lay.yaxis2.side == "right"
    assert lay.yaxis2.title.text == "answers"
    assert tuple(lay.yaxis2.range) == pytest.approx((0.0, 440.0))  # 10% above the largest
    assert lay.xaxis.type == "category" and lay.xaxis.title.text == "Journey stage"
    assert list(lay.xaxis.tickvals) == ["awareness", "purchase", "delivery", "support",
                                        "renewal", HTML]  # fmt: skip
    assert lay.xaxis.ticktext[-1] == ESCAPED
    assert lay.height == 400
    assert_escaped(fig)


# --- movers_figure -----------------------------------------------------------------------


def movers_frame() -> pd.DataFrame:
    """segments.movers: the significant changes, largest absolute change first."""
    return pd.DataFrame(
        {
            "dimension": ["region", "plan", "channel"],
            "value": ["Oslo", HTML, "web"],
            "now": [40.0, 10.0, 33.1],
            "prev": [27.7, 18.0, 30.0],
            "change": [12.3, -8.0, 3.1],
            "n_now": [1500, 300, 2000],
            "n_prev": [1480, 320, 2100],
            "stat": [6.1, -2.2, 2.0],
        }
    )


def test_movers_largest_on_top_coloured_by_direction() -> None:
    fig = charts.movers_figure(movers_frame(), "nps")
    (bar,) = fig.data
    assert bar.type == "bar" and bar.orientation == "h"
    labels = ["Channel: web", f"Plan: {HTML}", "Region: Oslo"]  # bottom to top
    assert list(bar.y) == labels and list(bar.x) == [3.1, -8.0, 12.3]
    assert list(bar.marker.color) == [charts.GOOD, charts.BAD, charts.GOOD]
    assert list(bar.text) == ["+3.1", "-8.0", "+12.3"]  # the unit is on the axis
    assert bar.textposition == "outside" and bar.cliponaxis is False
    assert list(fig.layout.xaxis.range) == [-8.0 - 0.55 * 12.3, 12.3 + 0.55 * 12.3]
    assert [list(c) for c in bar.customdata] == [  # [hover, dimension, value]: a click's segment
        ["<b>Channel: web</b><br>NPS 33.1 (n = 2,000) vs 30.0 (n = 2,100)<br>"
         "change +3.1 pts · significant (95%)", "channel", "web"],
        [f"<b>Plan: {ESCAPED}</b><br>NPS 10.0 (n = 300) vs 18.0 (n = 320)<br>"
         "change -8.0 pts · significant (95%)", "plan", HTML],
        ["<b>Region: Oslo</b><br>NPS 40.0 (n = 1,500) vs 27.7 (n = 1,480)<br>"
         "change +12.3 pts · significant (95%)", "region", "Oslo"],
    ]  # fmt: skip
    assert fig.layout.yaxis.type == "category"
    assert list(fig.layout.yaxis.tickvals) == labels
    assert list(fig.layout.yaxis.ticktext) == ["Channel: web", f"Plan: {ESCAPED}", "Region: Oslo"]
    assert fig.layout.xaxis.title.text == "change in NPS (pts)"
    assert fig.layout.xaxis.zeroline is True
    assert fig.layout.showlegend is False and fig.layout.height == 220
    assert_escaped(fig)


def test_movers_of_friction_are_blue_when_it_falls() -> None:
    frame = movers_frame().assign(now=[20.0, 9.0, 14.0], prev=[25.0, 5.0, 12.0],
                                  change=[-5.0, 4.0, 2.0])  # fmt: skip
    fig = charts.movers_figure(frame, "friction")
    bar = fig.data[0]
    assert list(bar.x) == [2.0, 4.0, -5.0]
    assert list(bar.marker.color) == [charts.BAD, charts.BAD, charts.GOOD]
    assert list(bar.text) == ["+2.0", "+4.0", "-5.0"]
    assert bar.customdata[2][0] == (
        "<b>Region: Oslo</b><br>Friction rate 20.0% (n = 1,500) vs 25.0% (n = 1,480)<br>"
        "change -5.0 pp · significant (95%)"
    )
    assert fig.layout.xaxis.title.text == "change in Friction rate (pp)"


def test_movers_stop_at_the_limit_and_grow_with_the_bars() -> None:
    frame = pd.DataFrame(
        {
            "dimension": ["region"] * 12,
            "value": [f"r{i:02d}" for i in range(12)],
            "now": [30.0] * 12,
            "prev": [20.0] * 12,
            "change": [12.0 - i for i in range(12)],
            "n_now": [100] * 12,
            "n_prev": [100] * 12,
            "stat": [3.0] * 12,
        }
    )
    fig = charts.movers_figure(frame, "nps", limit=10)
    assert list(fig.data[0].y) == [f"Region: r{i:02d}" for i in range(9, -1, -1)]
    assert fig.layout.height == 34 * 10 + 70


# --- drill_figure ------------------------------------------------------------------------


def drill_nodes() -> pd.DataFrame:
    """queries.drilldown(["region", "plan"]) after segments.withhold_nodes: Oslo with a
    normal, a low-base and a suppressed plan; "<b>x</b>" and its one plan withheld."""
    rows = [  # level, id, parent, label, responses, nps_n, promoters, detractors
        (1, "Oslo", "", "Oslo", 234, 220, 100, 40),
        (1, HTML, "", HTML, 50, 45, 20, 10),
        (2, "Oslo/Basic", "Oslo", "Basic", 200, 190, 90, 30),
        (2, "Oslo/Plus", "Oslo", "Plus", 28, 25, 8, 8),
        (2, "Oslo/Premium", "Oslo", "Premium", 6, 5, 2, 2),
        (2, f"{HTML}/Basic", HTML, "Basic", 50, 45, 20, 10),
    ]
    nodes = nps_scores(
        [{"level": lv, "id": i, "parent": pa, "label": la, "r": r, "n": n, "p": p, "d": d}
         for lv, i, pa, la, r, n, p, d in rows]
    )  # fmt: skip
    held = nodes["id"].isin([HTML, f"{HTML}/Basic"])
    for col in ("nps", "nps_ci_low", "nps_ci_high", "detractor_pct", "promoter_pct"):
        nodes.loc[held, col] = np.nan
    nodes["hidden"] = held
    return nodes


def test_drill_treemap_nodes_hovers_and_grey_for_hidden() -> None:
    fig = charts.drill_figure(drill_nodes(), "nps", "treemap", "All answers", 26.4, 265)
    tree = fig.data[0]
    assert tree.type == "treemap" and tree.branchvalues == "total"
    assert list(tree.ids) == ["All", "Oslo", HTML, "Oslo/Basic", "Oslo/Plus", "Oslo/Premium",
                              f"{HTML}/Basic"]  # fmt: skip
    assert list(tree.parents) == ["", "All", "All", "Oslo", "Oslo", "Oslo", HTML]
    assert list(tree.labels) == ["All answers", "Oslo", ESCAPED, "Basic", "Plus", "Premium",
                                 "Basic"]  # fmt: skip
    assert list(tree.values) == [284, 234, 50, 200, 28, 6, 50]  # size = answers
    hidden = "hidden: would reveal a small group (n=45)"
    assert list(tree.customdata) == [
        "NPS 26.4 · n = 265",
        "NPS 27.3 · n = 220",
        hidden,
        "NPS 31.6 · n = 190",
        "NPS 0.0 · n = 25 · low base",
        "n too small (n=5)",
        hidden,
    ]
    assert tree.texttemplate == "<b>%{label}</b><br>%{customdata}"
    assert tree.hovertemplate == (
        "<b>%{label}</b><br>%{customdata}<br>%{value:,} answers<extra></extra>"
    )
    # colour: the value on the scale's own colours; withheld and suppressed nodes grey and
    # hatched, off the scale
    colors, hatch = list(tree.marker.colors), list(tree.marker.pattern.shape)
    assert [colors[i] for i in (2, 5, 6)] == [charts.SUPPRESSED_SOLID] * 3
    assert hatch == ["", "", "/", "", "", "/", "/"]
    bar = fig.data[1]  # the colour bar: an invisible trace with the metric's plain scale
    assert bar.type == "scatter" and bar.marker.showscale is True
    assert bar.marker.cmax == pytest.approx(31.5789, abs=1e-3)  # NPS: symmetric around 0
    assert bar.marker.cmin == -bar.marker.cmax
    assert [tuple(s) for s in bar.marker.colorscale] == [
        (0.0, RED), (0.5, "#EDE6D6"), (1.0, BLUE)
    ]  # fmt: skip
    assert bar.marker.colorbar.title.text == "NPS"
    nps = drill_nodes()["nps"]
    shown = [26.4, nps[0], nps[2], nps[3]]  # All, Oslo, Oslo/Basic (the highest), Oslo/Plus
    expected = sample_colorscale(charts.GOOD_HIGH, [(v / nps[2] + 1) / 2 for v in shown])
    assert [colors[i] for i in (0, 1, 3, 4)] == expected
    assert colors[3] == "rgb(47, 111, 208)"  # the best node is the scale's blue end
    assert tree.tiling.pad == 2 and tree.pathbar.visible is True
    assert fig.layout.height == 560
    assert_escaped(fig)


def test_drill_sunburst_with_a_suppressed_root() -> None:
    fig = charts.drill_figure(drill_nodes(), "nps", "sunburst", "<All>", None, 7)
    sun = fig.data[0]
    assert sun.type == "sunburst" and sun.insidetextorientation == "radial"
    assert sun.labels[0] == "&lt;All&gt;"
    assert sun.customdata[0] == "n too small (n=7)"
    assert sun.marker.colors[0] == charts.SUPPRESSED_SOLID and sun.marker.pattern.shape[0] == "/"


def test_drill_friction_is_blue_at_the_low_end() -> None:
    counts = pd.DataFrame(
        {"level": [1, 1], "id": ["a", "b"], "parent": ["", ""], "label": ["a", "b"],
         "responses": [120, 80], "friction_n": [100, 50], "friction_events": [10, 20]}
    )  # fmt: skip
    fig = charts.drill_figure(score_frame(counts, TH), "friction", "treemap", "All", 20.0, 150)
    tree, bar = fig.data
    scale = [tuple(s) for s in bar.marker.colorscale]
    assert scale[0] == (0.0, BLUE) and scale[-1] == (1.0, RED)
    assert list(tree.customdata) == [
        "Friction rate 20.0% · n = 150",
        "Friction rate 10.0% · n = 100",
        "Friction rate 40.0% · n = 50",
    ]
    assert (bar.marker.cmin, bar.marker.cmax) == (10.0, 40.0)  # not symmetric: observed range
    assert list(tree.marker.colors) == sample_colorscale(charts.GOOD_LOW, [1 / 3, 0.0, 1.0])


def painted(marker: Any) -> list[str]:
    """The colour Plotly paints each node: the colour given, or a number's colour on the
    marker's colour scale between cmin and cmax (as plotly.js interpolates it)."""
    colors = list(marker.colors)
    if all(isinstance(c, str) for c in colors):
        return colors
    pos = [(float(c) - marker.cmin) / (marker.cmax - marker.cmin) for c in colors]
    scale = [[float(p), c] for p, c in marker.colorscale]
    out = sample_colorscale(scale, [min(max(p, 0.0), 1.0) for p in pos], colortype="rgb")
    grey = "rgb({}, {}, {})".format(*(int(charts.SUPPRESSED_SOLID[i : i + 2], 16)
                                      for i in (1, 3, 5)))  # fmt: skip
    return [charts.SUPPRESSED_SOLID if c == grey else c for c in out]


def extreme_nodes() -> pd.DataFrame:
    """Two countries at the extremes of a real demo view (NPS −76.8 with n = 285; a
    plan with friction 0.0% on n = 26) beside ordinary ones and one n-too-small node."""
    rows = [  # id, responses, nps_n, promoters, detractors, friction_n, friction_events
        ("Bad", 300, 285, 9, 228, 260, 120),  # NPS 100·(9−228)/285 = −76.8
        ("Calm", 400, 380, 150, 100, 26, 0),  # friction 0/26 = 0.0%
        ("Fine", 500, 480, 200, 120, 400, 60),
        ("Tiny", 8, 7, 3, 1, 6, 1),  # n too small for both
    ]
    counts = pd.DataFrame(
        [{"level": 1, "id": i, "parent": "", "label": i, "responses": r, "nps_n": n,
          "promoters": p, "detractors": d, "friction_n": fn, "friction_events": fe}
         for i, r, n, p, d, fn, fe in rows]
    )  # fmt: skip
    return score_frame(counts, TH)


@pytest.mark.parametrize("kind", ["treemap", "sunburst"])
@pytest.mark.parametrize(
    ("metric", "extreme", "value", "end"),
    [("nps", "Bad", -76.8, RED), ("friction", "Calm", 0.0, BLUE)],
)
def test_drill_extreme_value_gets_the_scale_end_colour_not_the_grey(
    kind: str, metric: str, extreme: str, value: float, end: str
) -> None:
    nodes = extreme_nodes()
    assert round(float(nodes.loc[nodes["id"] == extreme, metric].iloc[0]), 1) == value
    fig = charts.drill_figure(nodes, metric, kind, "All", 5.0, 1180)
    tree, bar = fig.data[0], fig.data[-1]
    colors = dict(zip(tree.ids, painted(tree.marker), strict=True))
    rgb = "rgb({}, {}, {})".format(*(int(end[i : i + 2], 16) for i in (1, 3, 5)))
    assert colors[extreme] == rgb  # the true end colour of the scale…
    assert colors[extreme] != charts.SUPPRESSED_SOLID  # …not the "n too small" grey
    assert colors["Tiny"] == charts.SUPPRESSED_SOLID
    assert [s for i, s in zip(tree.ids, tree.marker.pattern.shape, strict=True) if s] == ["/"]
    assert tree.customdata[list(tree.ids).index("Tiny")] == "n too small (n=7)" if (
        metric == "nps"
    ) else "n too small (n=6)"
    # the colour bar spans the shown values, its ends the scale's true colours
    lo = min(v for v in nodes[metric] if not np.isnan(v))
    assert bar.marker.cmin == pytest.approx(lo) and tuple(bar.marker.colorscale[0])[1] == end
