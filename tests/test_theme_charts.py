"""The Themes view's figure builders (pages/_shared/charts.py, section "themes") on small
hand-made frames of the shapes cxdata.voc.impact returns: traces, order, ranges, colours
and hover texts — the n behind every number, "n too small", withheld and "not tested"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxdata import charts
from cxdata.voc.impact import ranked_by_impact

NA = pd.NA
# theme, label, n, share, NPS with (CI), n with, NPS without (CI), n without, impact, t,
# significant, suppressed, hidden, low_base — as impact.theme_impact returns them.
ROWS = [
    ("bill", "Billing", 990, 99.0, (np.nan,) * 3, 880, (np.nan,) * 3, 5, np.nan, np.nan,
     NA, True, True, False),  # withheld: the other side is too small
    ("deliv", "Delivery", 300, 30.0, (-20.0, -28.1, -11.9), 280, (30.0, 25.0, 35.0), 600,
     -50.0, -8.5, True, False, False, False),
    ("price", "Price <b>x</b>", 200, 20.0, (35.0, 27.0, 43.0), 190, (15.0, 10.0, 20.0), 690,
     20.0, 3.1, True, False, False, False),
    ("refund", "Refund", 100, 10.0, (22.0, 10.0, 34.0), 95, (24.0, 19.0, 29.0), 785, -2.0,
     -0.4, False, False, False, False),
    ("staff", "Staff", 50, 5.0, (10.0, -8.0, 28.0), 45, (12.0, 7.0, 17.0), 835, -2.0, np.nan,
     NA, False, False, True),  # low base: not tested
    ("app", "App", 8, 0.8, (np.nan,) * 3, 7, (np.nan,) * 3, 873, np.nan, np.nan, NA, True,
     False, False),  # n too small
]  # fmt: skip


def impact_frame() -> pd.DataFrame:
    records = []
    for (theme, label, n, share, with_, n_with, without, n_without, impact, t, sig, supp,
         hidden, low) in ROWS:  # fmt: skip
        records.append({
            "theme": theme, "label": label, "n": n, "comments": 1000, "share": share,
            "nps_with": with_[0], "nps_with_ci_low": with_[1], "nps_with_ci_high": with_[2],
            "nps_n_with": n_with, "nps_without": without[0],
            "nps_without_ci_low": without[1], "nps_without_ci_high": without[2],
            "nps_n_without": n_without, "nps_impact": impact, "t": t, "significant": sig,
            "suppressed": supp, "hidden": hidden, "low_base": low,
        })  # fmt: skip
    frame = pd.DataFrame(records)
    frame["significant"] = frame["significant"].astype("boolean")
    return frame


def bars(fig) -> tuple[list[str], list[str], list[str]]:
    """(theme ids bottom to top, their tick labels, hover texts) of a bar figure."""
    (trace,) = fig.data
    assert trace.type == "bar" and trace.orientation == "h"
    axis = fig.layout.yaxis
    labels = dict(zip(axis.tickvals, axis.ticktext, strict=True))
    return list(trace.y), [labels[t] for t in trace.y], list(trace.customdata)


def test_volume_bars_largest_on_top_with_n_share_and_nps_with() -> None:
    fig = charts.theme_volume_figure(impact_frame())
    ids, labels, hover = bars(fig)
    assert ids == ["app", "staff", "refund", "price", "deliv", "bill"]  # largest at the top
    assert labels[3] == "Price &lt;b&gt;x&lt;/b&gt;"  # a label is data: escaped
    assert list(fig.data[0].x) == [8, 50, 100, 200, 300, 990]
    assert fig.data[0].text[-2] == "300 · 30.0%"
    assert fig.data[0].marker.color == charts.GOOD
    by_id = dict(zip(ids, hover, strict=True))
    assert by_id["deliv"] == (
        "<b>Delivery</b><br>300 mentions · 30.0% of 1,000 comments<br>"
        "NPS with the theme: -20.0 (95% CI -28.1 – -11.9) · n = 280"
    )
    assert by_id["app"].endswith("NPS with the theme: n too small (n=7)")
    assert by_id["bill"].endswith("NPS with the theme: hidden: would reveal a small group (n=880)")
    assert fig.layout.height == 240 and fig.layout.xaxis.title.text.startswith("comments")


def test_volume_bars_stop_at_the_largest_twenty() -> None:
    many = pd.concat([impact_frame().iloc[[1]]] * 25, ignore_index=True)
    many["theme"] = [f"t{i:02d}" for i in range(25)]
    fig = charts.theme_volume_figure(many)
    assert list(fig.data[0].y) == [f"t{i:02d}" for i in range(19, -1, -1)]
    assert fig.layout.height == 26 * 20 + 60


def test_impact_bars_most_negative_on_top_coloured_only_when_significant() -> None:
    fig = charts.theme_impact_figure(ranked_by_impact(impact_frame()))
    ids, _, hover = bars(fig)
    assert ids == ["price", "staff", "refund", "deliv"]  # suppressed themes are left out
    assert list(fig.data[0].x) == [20.0, -2.0, -2.0, -50.0]
    assert list(fig.data[0].marker.color) == [
        charts.GOOD, charts.NEUTRAL, charts.NEUTRAL, charts.BAD
    ]  # fmt: skip
    assert list(fig.data[0].text) == [
        "+20.0 ★ (n=200)", "-2.0 (n=50)", "-2.0 (n=100)", "-50.0 ★ (n=300)"
    ]  # fmt: skip
    by_id = dict(zip(ids, hover, strict=True))
    assert by_id["deliv"] == (
        "<b>Delivery</b><br>NPS with the theme: -20.0 (95% CI -28.1 – -11.9) · n = 280<br>"
        "NPS without: 30.0 (95% CI 25.0 – 35.0) · n = 600<br>"
        "impact -50.0 points · t = -8.50 · significant"
    )
    assert by_id["refund"].endswith("impact -2.0 points · t = -0.40 · not significant")
    assert by_id["staff"].endswith("impact -2.0 points · not tested (low base)")
    assert "&lt;b&gt;" in by_id["price"] and "<b>x</b>" not in by_id["price"]
    (zero,) = fig.layout.shapes  # the zero line
    assert zero.x0 == zero.x1 == 0


@pytest.mark.parametrize(
    ("theme", "wording"),
    [
        ("deliv", "significant"),
        ("refund", "not significant"),
        ("staff", "not tested (low base)"),
        ("app", "not tested (n too small)"),
        ("bill", "not tested (hidden: would reveal a small group)"),
    ],
)
def test_the_ranking_table_says_each_test_outcome_once(theme: str, wording: str) -> None:
    frame = impact_frame().set_index("theme", drop=False)
    assert charts.theme_significance(frame.loc[theme]) == wording


CELL_COLUMNS = ("theme", "label", "n", "comments", "share", "nps_n_with", "nps_with",
                "suppressed")  # fmt: skip


def cells(by: str, rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """Theme cells split by `by` (trend periods, touchpoints), as impact.theme_trend and
    impact.theme_matrix return them; nothing withheld."""
    return pd.DataFrame(rows, columns=[by, *CELL_COLUMNS]).assign(hidden=False)


def trend_frame() -> pd.DataFrame:
    jan, feb = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")
    return cells("period", [
        (feb, "deliv", "Delivery", 30, 150, 20.0, 28, -10.7, False),
        (jan, "deliv", "Delivery", 20, 100, 20.0, 19, np.nan, True),
        (jan, "price", "Price <b>x</b>", 12, 100, 12.0, 11, np.nan, True),
        (feb, "price", "Price <b>x</b>", 0, 150, 0.0, 0, np.nan, True),
    ])  # fmt: skip


def test_trend_one_line_per_theme_in_the_frames_order() -> None:
    fig = charts.theme_trend_figure(trend_frame())
    assert [t.name for t in fig.data] == ["Delivery", "Price &lt;b&gt;x&lt;/b&gt;"]
    deliv, price = fig.data
    assert list(deliv.x) == [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")]
    assert list(deliv.y) == [20.0, 20.0] and list(price.y) == [12.0, 0.0]
    assert deliv.line.color == charts.PALETTE[0] and price.line.color == charts.PALETTE[1]
    assert list(deliv.customdata) == [
        "<b>Delivery</b> · 01 Jan 2026<br>20 of 100 comments (20.0%)<br>"
        "NPS with the theme: n too small (n=19)",
        "<b>Delivery</b> · 01 Feb 2026<br>30 of 150 comments (20.0%)<br>"
        "NPS with the theme: -10.7 · n = 28",
    ]
    assert fig.layout.yaxis.title.text == "% of comments" and fig.layout.height == 360
    assert fig.layout.legend.orientation == "h"  # the shared layout (charts._layout)


def matrix_frame() -> pd.DataFrame:
    return cells("touchpoint", [
        ("web", "deliv", "Delivery", 40, 200, 20.0, 38, -5.3, False),
        ("<i>app</i>", "deliv", "Delivery", 3, 100, 3.0, 3, np.nan, True),
        ("web", "price", "Price <b>x</b>", 1, 200, 0.3, 1, np.nan, True),
        ("web", "other", "Other", 9, 200, 4.5, 9, np.nan, True),
    ])  # fmt: skip


def test_heatmap_rows_in_the_given_order_shares_from_zero() -> None:
    fig = charts.theme_heatmap_figure(matrix_frame(), ["price", "deliv", "gone"])
    (heat,) = fig.data
    assert list(heat.y) == ["price", "deliv"]  # the given order; unknown themes dropped
    assert list(heat.x) == ["&lt;i&gt;app&lt;/i&gt;", "web"]  # escaped; Plotly thins them
    assert fig.layout.xaxis.ticktext is None and fig.layout.xaxis.type == "category"
    assert list(fig.layout.yaxis.ticktext) == ["Price &lt;b&gt;x&lt;/b&gt;", "Delivery"]
    assert fig.layout.yaxis.autorange == "reversed"  # the first theme on top
    z = np.array(heat.z, dtype=float)
    assert np.isnan(z[0, 0]) and z[0, 1] == 0.3 and z[1].tolist() == [3.0, 20.0]
    assert (heat.zmin, heat.zmax) == (0.0, 20.0)
    assert heat.colorscale[0][1] == charts.GOOD_HIGH[1][1]
    assert heat.colorscale[-1][1] == charts.PALETTE[0]
    assert [list(r) for r in heat.text] == [["", "&lt;1"], ["3", "20"]]
    hover = [list(r) for r in heat.customdata]
    assert hover[0][0] == "no mention"
    assert hover[0][1] == (
        "<b>Price &lt;b&gt;x&lt;/b&gt;</b> at web<br>1 of 200 comments (0.3%)<br>"
        "NPS with the theme: n too small (n=1)"
    )
    assert hover[1][1].endswith("NPS with the theme: -5.3 · n = 38")
    assert fig.layout.height == 300
