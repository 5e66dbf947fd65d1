"""The Trends page in Streamlit's AppTest on demo data (issue 12, items 2, 6 and 14): the
second-axis KPI names the filters it cannot apply, partial periods are marked and quarters
read "Q2 2026", and "Biggest movers" gives a small segment that moved its own line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import test_app
from test_app import assert_clean, figures, new_app, run_page

from cxdata import segments
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.store import connect

PAGE = "pages/trends.py"
demo_dir, app_env = test_app.demo_dir, test_app.app_env  # its fixtures: the demo store


def open_trends(query: dict[str, str | list[str]]):
    """The Trends page opened from a link carrying `query` (as a shared URL does)."""
    at = run_page(new_app(query), PAGE)
    at.switch_page(PAGE)
    at.query_params.clear()
    at.query_params.update(query)
    return at.run()


def comparison_shown(at) -> tuple[dt.date, dt.date]:
    """The comparison range the page header states ("vs previous period (2 Jan – 1 Apr
    2026)"): the range the page's movers are computed against."""
    found = re.search(r"\((\d+ \w+(?: \d{4})?) – (\d+ \w+ \d{4})\) ·", at.caption[0].value)
    assert found, at.caption[0].value
    last = dt.datetime.strptime(found.group(2), "%d %b %Y").date()
    first = found.group(1) if found.group(1)[-4:].isdigit() else f"{found.group(1)} {last.year}"
    return dt.datetime.strptime(first, "%d %b %Y").date(), last


def trend_lines(at) -> list[dict]:
    """The score lines of the trend chart (not bands, not the KPI line)."""
    fig = figures(at)[0]
    return [t for t in fig["data"] if t.get("fill") != "toself" and t.get("yaxis") != "y2"]


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_kpi_line_says_which_filters_it_ignores(app_env: Path) -> None:
    at = open_trends({"customer_type": "business", "kpi": "churn rate"})
    assert_clean(at)
    kpi = [t for t in figures(at)[0]["data"] if t.get("yaxis") == "y2"]
    assert len(kpi) == 1
    assert kpi[0]["name"] == "Churn rate (right axis) · not narrowed by Customer type"
    assert all(h.endswith("; not narrowed by Customer type)") for h in kpi[0]["customdata"])
    assert (
        "Churn rate (right axis, metrics dataset): Not narrowed by Customer type: the metrics "
        "dataset has no such column." in captions(at)
    )


def test_kpi_line_narrowed_by_every_filter_says_nothing_more(app_env: Path) -> None:
    at = open_trends({"country": "Norway", "kpi": "churn rate"})
    assert_clean(at)
    (kpi,) = [t for t in figures(at)[0]["data"] if t.get("yaxis") == "y2"]
    assert kpi["name"] == "Churn rate (right axis)"
    assert "not narrowed" not in captions(at).lower()


def test_partial_first_month_is_an_open_square_and_says_so(app_env: Path) -> None:
    at = open_trends({"period": "custom", "from": "2026-01-31", "to": "2026-06-30",
                      "grain": "month"})  # fmt: skip
    assert_clean(at)
    (line,) = trend_lines(at)
    first = line["customdata"][0]  # the one day's answers: n small, CI wide
    assert first.startswith("Jan 2026 (partial: 1 of 31 days): ") and first.endswith("n = 30")
    assert line["customdata"][1].startswith("Feb 2026: ")
    assert line["marker"]["symbol"] == ["square-open"] + ["circle"] * 5
    layout = figures(at)[0]["layout"]
    assert layout["xaxis"]["tickformat"] == "%b %Y"
    assert (
        "Open squares: partial periods, only part of their days are in the date range or the "
        "data — Jan 2026 (partial: 1 of 31 days)" in captions(at)
    )
    shares = figures(at)[1]["data"]
    assert shares[0]["customdata"][0].startswith("Detractors (0–6) Jan 2026 (partial: 1 of 31")
    assert shares[0]["marker"]["opacity"] == [0.45] + [1.0] * 5


def test_quarters_read_q_and_year_with_the_partial_one_marked(app_env: Path) -> None:
    at = open_trends({"period": "custom", "from": "2025-08-15", "to": "2026-06-30",
                      "grain": "quarter"})  # fmt: skip
    assert_clean(at)
    (line,) = trend_lines(at)
    axis = figures(at)[0]["layout"]["xaxis"]
    assert axis["ticktext"] == ["Q3 2025", "Q4 2025", "Q1 2026", "Q2 2026"]
    periods_hovered = [re.match(r"(Q\d \d{4}(?: \(partial: [^)]*\))?): ", h) for h in
                       line["customdata"]]  # fmt: skip
    assert [m.group(1) for m in periods_hovered if m] == [
        "Q3 2025 (partial: 47 of 92 days)", "Q4 2025", "Q1 2026", "Q2 2026"
    ]  # fmt: skip
    assert figures(at)[1]["layout"]["xaxis"]["ticktext"] == axis["ticktext"]


def test_biggest_movers_give_a_small_segment_that_moved_its_own_line(app_env: Path) -> None:
    """Movers are the changes significant after correcting for every value tested
    (Benjamini–Hochberg, 5% FDR): CSAT of the small "size guide" touchpoint rose ~30 points
    in Q4 2025 (p ≈ 0.0003 among 22 touchpoints) and gets its own line."""
    query = {"period": "custom", "from": "2025-10-01", "to": "2025-12-31", "split": "touchpoint",
             "metric": "csat", "top": "3", "order": "movers"}  # fmt: skip
    at = open_trends(query)
    assert_clean(at)
    assert at.session_state["trends.order"] == "movers"
    assert dict(at.query_params) == query  # the choice is in the URL like the others
    start, end = dt.date(2025, 10, 1), dt.date(2025, 12, 31)
    before = comparison_shown(at)
    moved = segments.movers(
        connect(app_env), Filters.make(start, end, {}), Filters.make(*before, {}), ["touchpoint"],
        "csat", Thresholds(min_n=10, low_base=30),
    )  # fmt: skip
    assert moved.attrs["comparisons"] == 22 and list(moved["value"]) == ["size guide"]
    names = [t["name"] for t in trend_lines(at)]
    assert sorted(names) == sorted(["size guide", "Other"])
    guide = moved.iloc[0]
    assert guide["change"] > 20 and guide["n_now"] < 100
    text = captions(at)
    assert (
        f"size guide {guide['change']:+.1f} pp (n = {guide['n_now']:,} vs "
        f"{guide['n_prev']:,})" in text
    )
    assert "significant after correcting for 22 comparisons (Benjamini–Hochberg, 5% FDR)" in text
    # the default order keeps the largest values, of which size guide is not one
    at = open_trends({**query, "order": "volume"})
    by_volume = [t["name"] for t in trend_lines(at)]
    assert len(by_volume) == 4 and "Other" in by_volume and "size guide" not in by_volume


def test_movers_that_do_not_survive_the_correction_give_no_line(app_env: Path) -> None:
    """Q2 2026 by country: Slovenia (p ≈ 0.042) and Norway (p ≈ 0.026) pass a 95% test
    each, but not Benjamini–Hochberg over the 4 countries (thresholds .0125, .025, …): no
    value gets a movers line, the page says so with the number of comparisons and shows
    the largest values."""
    query = {"period": "custom", "from": "2026-04-01", "to": "2026-06-30", "split": "country",
             "top": "3", "order": "movers"}  # fmt: skip
    at = open_trends(query)
    assert_clean(at)
    start, end = dt.date(2026, 4, 1), dt.date(2026, 6, 30)
    tested = segments.movers(
        connect(app_env), Filters.make(start, end, {}), Filters.make(*comparison_shown(at), {}),
        ["country"], "nps", Thresholds(min_n=10, low_base=30), all_tested=True,
    )  # fmt: skip
    plain = set(tested.loc[tested["significant_unadjusted"].astype(bool), "value"])
    assert plain == {"Slovenia", "Norway"} and not tested["significant"].astype(bool).any()
    by_volume = ["Norway", "Sweden", "Denmark"]  # the top 3 by answers in this range
    assert sorted(t["name"] for t in trend_lines(at)) == sorted([*by_volume, "Other"])
    assert (
        "changed significantly vs the previous period" in captions(at)
        and "after correcting for 4 comparisons (Benjamini–Hochberg, 5% FDR): the lines show "
        "the values with the most answers" in captions(at)
    )


def test_the_numbers_behind_the_chart_are_built_only_while_open(app_env: Path) -> None:
    """"Numbers behind the chart" is a lazy expander: closed, no table is built or sent on
    a rerun; opened, its rows are the chart's points (one per period of the line)."""
    at = open_trends({"period": "12m", "grain": "month"})
    assert_clean(at)
    assert not [el for el in at.dataframe if "CI low" in el.value.columns]
    at.session_state["trends.numbers"] = True  # what opening it in the browser sets
    at.run()
    assert_clean(at)
    (table,) = [el.value for el in at.dataframe if "CI low" in el.value.columns]
    line = trend_lines(at)[0]
    assert len(table) == len(line["x"]) and table["n"].sum() > 0
