"""Why did it move, on screen (issue 14, item 1): the waterfall built from cxdata.explain
(bars = the engine's within per segment and mix, summing to the total; the classic trap
reads right; the story sentence), the Overview's "Why did it move?" with its URL state,
the Trends section and the under-min-n message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import test_app
from test_app import assert_clean, new_app, run_page

from cxdata import charts, explain, queries
from cxdata.config import Thresholds
from cxdata.store import connect
from pages._shared.why import segments_table

demo_dir, app_env = test_app.demo_dir, test_app.app_env  # its fixtures: the demo store
fresh_caches = test_app.fresh_caches

# Both plans improve by 5 points, but the answers move from the strong A (800 → 200) to
# the weak B (200 → 800): NPS falls from 40 to 15 (within +5, mix −30).
TRAP = [
    ("A", "prev", 480, 240, 80), ("B", "prev", 60, 80, 60),  # NPS 50 and 0
    ("A", "now", 120, 70, 10), ("B", "now", 240, 360, 200),  # NPS 55 and 5
]  # fmt: skip


def nps_counts(table: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """(segment, period, promoters, passives, detractors) rows → the engine's counts."""
    frame = pd.DataFrame(
        table, columns=["segment", "period", "promoters", "passives", "detractors"]
    )
    frame["nps_n"] = frame[["promoters", "passives", "detractors"]].sum(axis=1)
    return frame.drop(columns="passives")


def trap() -> explain.Explanation:
    return explain.decompose(nps_counts(TRAP), "nps", Thresholds(), 200, 1, "plan")


def many() -> explain.Explanation:
    """Ten segments with different sizes and changes, two of them under min n (pooled)."""
    rng = np.random.default_rng(7)
    table = []
    for i in range(10):
        size = 6 if i >= 8 else int(rng.integers(60, 400))
        for period in ("prev", "now"):
            p, d = rng.uniform(0.2, 0.5), rng.uniform(0.1, 0.3)
            pro, det = int(size * p), int(size * d)
            table.append((f"seg {i}", period, pro, size - pro - det, det))
    return explain.decompose(nps_counts(table), "nps", Thresholds(min_n=10, low_base=30),
                             100, 3, "region")  # fmt: skip


def waterfall(fig) -> dict:
    return fig.to_plotly_json()["data"][0]


# --- the figure builder ----------------------------------------------------------------------


def test_trap_bars_are_the_engines_within_and_mix_and_sum_to_the_total() -> None:
    ex = trap()
    bars = charts.waterfall_bars(ex)
    assert list(bars["kind"]) == ["start", "segment", "segment", "mix", "end"]
    seg = ex.segments.set_index("segment")
    effects = bars[bars["kind"] == "segment"]
    assert list(effects["label"]) == ["A", "B"]
    assert effects["value"].tolist() == pytest.approx([seg.loc["A", "within"],
                                                       seg.loc["B", "within"]])  # fmt: skip
    assert effects["value"].tolist() == pytest.approx([2.5, 2.5])  # both plans improve
    mix = bars[bars["kind"] == "mix"]["value"].iloc[0]
    assert mix == pytest.approx(ex.mix) and mix == pytest.approx(-30.0)  # the mix drags down
    start, end = bars["value"].iloc[0], bars["value"].iloc[-1]
    assert (start, end) == (pytest.approx(40.0), pytest.approx(15.0))
    moved = bars[bars["kind"].isin(["segment", "rest", "mix"])]["value"].sum()
    assert moved == pytest.approx(ex.total) and moved == pytest.approx(-25.0)
    # the figure draws exactly these numbers, the within steps up, the mix step down
    trace = waterfall(charts.waterfall_figure(ex))
    assert trace["type"] == "waterfall" and trace["orientation"] == "h"
    assert list(trace["measure"]) == ["absolute", "relative", "relative", "relative", "total"]
    assert list(trace["x"]) == pytest.approx([40.0, 2.5, 2.5, -30.0, 15.0])
    assert trace["increasing"]["marker"]["color"] == charts.GOOD  # NPS up is good
    assert trace["decreasing"]["marker"]["color"] == charts.BAD
    notes = charts.waterfall_figure(ex).to_plotly_json()["layout"]["annotations"]
    assert [(n["y"], n["text"]) for n in notes] == [
        ("start", "40.0"), ("seg0", "+2.5"), ("seg1", "+2.5"), ("mix", "-30.0"), ("end", "15.0")
    ]  # fmt: skip


def test_hovers_give_the_effect_its_ci_and_n() -> None:
    ex = trap()
    trace = waterfall(charts.waterfall_figure(ex))
    seg = ex.segments.set_index("segment")
    low, high = seg.loc["A", "within_ci_low"], seg.loc["A", "within_ci_high"]
    hover_a = trace["customdata"][1]
    assert hover_a.startswith("<b>A</b><br>within-segment effect +2.5 pts (95% CI ")
    assert f"(95% CI {low:+.1f} – {high:+.1f} pts)" in hover_a
    assert "NPS 50.0 → 55.0" in hover_a and "n = 800 → 200 answers" in hover_a
    lo, hi = ex.mix_ci
    assert f"mix effect -30.0 pts (95% CI {lo:+.1f} – {hi:+.1f} pts)" in trace["customdata"][3]
    assert hi < 0  # the bootstrap is sure the mix pulled NPS down
    end = trace["customdata"][4]
    assert "NPS 15.0 · n = 1,000" in end and "change -25.0 pts" in end
    assert "= within segments +5.0 pts + mix -30.0 pts" in end


def test_whiskers_sit_around_each_steps_end() -> None:
    ex = trap()
    fig = charts.waterfall_figure(ex).to_plotly_json()
    whiskers = fig["data"][1]
    seg = ex.segments.set_index("segment")
    # A's step goes 40 → 42.5; its whisker spans 40 + its CI
    assert whiskers["x"][0] == pytest.approx(42.5)
    assert whiskers["x"][0] + whiskers["error_x"]["array"][0] == pytest.approx(
        40 + seg.loc["A", "within_ci_high"]
    )
    assert whiskers["x"][0] - whiskers["error_x"]["arrayminus"][0] == pytest.approx(
        40 + seg.loc["A", "within_ci_low"]
    )
    assert whiskers["x"][2] == pytest.approx(15.0)  # the mix step ends on the current value
    low, high = fig["layout"]["xaxis"]["range"]
    mix_low, mix_high = 45 + ex.mix_ci[0], 45 + ex.mix_ci[1]  # the mix step starts at 45
    assert whiskers["x"][2] - whiskers["error_x"]["arrayminus"][2] == pytest.approx(mix_low)
    assert whiskers["x"][2] + whiskers["error_x"]["array"][2] == pytest.approx(mix_high)
    assert low < min(mix_low, 15.0) and max(mix_high, 45.0) < high  # all of it fits


def test_the_rest_is_summed_and_the_pool_is_never_a_top_bar() -> None:
    ex = many()
    seg = ex.segments
    assert seg["pooled"].sum() == 1 and int(seg.loc[seg["pooled"], "members"].iloc[0]) == 2
    bars = charts.waterfall_bars(ex, top=4)
    shown = bars[bars["kind"] == "segment"]
    top4 = seg[~seg["pooled"]].assign(a=seg["within"].abs()).nlargest(4, "a")
    assert list(shown["label"]) == list(top4["segment"])
    rest = bars[bars["kind"] == "rest"].iloc[0]
    others = seg.drop(index=top4.index)
    assert rest["label"] == "5 other segments"  # 4 big ones and the pool of 2
    assert rest["value"] == pytest.approx(others["within"].sum())
    assert (rest["n_now"], rest["n_prev"]) == (others["n_now"].sum(), others["n_prev"].sum())
    assert np.isnan(rest["ci_low"])  # no interval for a sum: the table has each one's
    effects = bars[bars["kind"].isin(["segment", "rest", "mix"])]["value"].sum()
    assert ex.value_prev + effects == pytest.approx(ex.value_now, abs=1e-9)
    trace = waterfall(charts.waterfall_figure(ex, top=4))
    assert sum(trace["x"][1:-1]) == pytest.approx(ex.total, abs=1e-9)
    assert "summed over 6 region values" in trace["customdata"][5]
    # with room for all, the pool is its own bar, named as a pool
    labels = list(charts.waterfall_bars(ex, top=20)["label"])
    assert "Other (2 values under n 10)" in labels and "other segments" not in " ".join(labels)


def test_friction_up_is_drawn_bad() -> None:
    counts = pd.DataFrame([
        ("web", "prev", 20, 200), ("web", "now", 40, 200),
        ("app", "prev", 10, 200), ("app", "now", 10, 200),
    ], columns=["segment", "period", "friction_events", "friction_n"])  # fmt: skip
    ex = explain.decompose(counts, "friction", Thresholds(), 50, 0, "channel")
    trace = waterfall(charts.waterfall_figure(ex))
    assert trace["increasing"]["marker"]["color"] == charts.BAD
    assert trace["decreasing"]["marker"]["color"] == charts.GOOD
    assert list(trace["x"]) == pytest.approx([7.5, 5.0, 0.0, 0.0, 12.5])
    assert charts.change_story(ex) == (
        "Friction rate rose 5.0 percentage points: 0 of 2 channels improved (+5.0 pp within "
        "segments), and the answer mix barely moved (+0.0 pp mix)."
    )


def test_story_of_the_trap_reads_right() -> None:
    assert charts.change_story(trap()) == (
        "NPS fell 25.0 points: every plan improved (+5.0 pts within segments), but the "
        "answer mix shifted toward segments with lower NPS (-30.0 pts mix)."
    )


def test_segments_table_has_readable_headers_and_the_engines_numbers() -> None:
    ex = trap()
    table = segments_table(ex)
    assert list(table.columns) == [
        "Plan", "n before", "n now", "NPS before", "NPS now", "share before %",
        "share now %", "within (pts)", "within 95% CI", "mix (pts)", "mix 95% CI",
        "within + mix (pts)",
    ]  # fmt: skip
    a = table.iloc[0]
    assert (a["Plan"], a["n before"], a["n now"]) == ("A", 800, 200)
    assert (a["NPS before"], a["NPS now"], a["share before %"]) == (50.0, 55.0, 80.0)
    assert a["within (pts)"] == pytest.approx(2.5) and a["mix (pts)"] == pytest.approx(-31.5)
    assert table["within + mix (pts)"].sum() == pytest.approx(-25.0)


# --- on the pages (AppTest on the demo) ------------------------------------------------------


def figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def waterfalls(at) -> list[dict]:
    return [f for f in figures(at) if f["data"] and f["data"][0]["type"] == "waterfall"]


def engine(at, demo_dir: Path, metric: str, by: str | None = None):
    """The page's own periods (its Ctx) run through the engine directly: the ranking and,
    for `by` (default: the top-ranked dimension), the explanation."""
    ctx = at.session_state["_cx_ctx"]
    store = connect(demo_dir)
    ranked = explain.rank_dimensions(store, ctx.filters, ctx.previous, metric, ctx.th)
    dim = by or str(ranked["dimension"].iloc[0])
    return dim, explain.explain(store, ctx.filters, ctx.previous, metric, dim, ctx.th)


def test_overview_why_did_nps_move_opens_the_top_dimension(app_env: Path) -> None:
    at = run_page(new_app(), "pages/overview.py")
    assert not waterfalls(at)  # closed until asked
    at.button(key="why_nps").click().run()
    assert_clean(at)
    dim, ex = engine(at, app_env, "nps")
    assert at.selectbox(key="overview.why.by").value == dim
    assert dict(at.query_params) == {"why": "nps", "why.by": dim}  # a shareable link
    (fig,) = waterfalls(at)
    assert f"Why NPS moved, by {dim}" in fig["layout"]["title"]["text"]
    bars = charts.waterfall_bars(ex)
    assert fig["data"][0]["x"] == pytest.approx(bars["value"].tolist())
    assert fig["data"][0]["x"][0] == pytest.approx(ex.value_prev)
    assert sum(fig["data"][0]["x"][1:-1]) == pytest.approx(ex.total)
    story = charts.change_story(ex)
    assert any(story in c.value.replace("\\", "") for c in at.caption)
    # the link opens the same explanation; another metric there is another explanation
    at.button(key="why_csat").click().run()
    assert at.query_params["why"] == "csat"
    assert at.selectbox(key="overview.why.by").value == engine(at, app_env, "csat")[0]
    at.button(key="overview.why.close").click().run()
    assert not waterfalls(at) and "why" not in at.query_params


def test_overview_shared_link_opens_the_same_explanation(app_env: Path) -> None:
    at = new_app({"why": "ces", "why.by": "plan"})
    at.run()
    assert_clean(at)
    assert at.selectbox(key="overview.why").value == "ces"
    assert at.selectbox(key="overview.why.by").value == "plan"
    (fig,) = waterfalls(at)
    _, ex = engine(at, app_env, "ces", "plan")
    assert fig["data"][0]["x"] == pytest.approx(charts.waterfall_bars(ex)["value"].tolist())
    assert sorted(fig["layout"]["yaxis"]["ticktext"][1:-2]) == ["Basic", "Plus", "Premium"]


def test_trends_section_follows_the_dimension_choice(app_env: Path) -> None:
    at = run_page(new_app(), "pages/trends.py")
    assert_clean(at)
    dim, ex = engine(at, app_env, "nps")
    assert at.selectbox(key="trends.why.by").value == dim
    (fig,) = waterfalls(at)
    assert fig["data"][0]["x"] == pytest.approx(charts.waterfall_bars(ex)["value"].tolist())
    table = at.dataframe[-1].value
    assert table["n now"].sum() == ex.n_now and table["n before"].sum() == ex.n_prev
    assert "why.by" not in at.query_params  # the default view keeps a clean URL
    other = "customer_type" if dim != "customer_type" else "plan"
    at.selectbox(key="trends.why.by").set_value(other).run()
    assert_clean(at)
    assert at.query_params["why.by"] == other
    (fig2,) = waterfalls(at)
    _, ex2 = engine(at, app_env, "nps", other)
    assert fig2["data"][0]["x"] == pytest.approx(charts.waterfall_bars(ex2)["value"].tolist())
    assert fig2["data"][0]["x"] != fig["data"][0]["x"]
    assert f"by {other.replace('_', ' ')}" in fig2["layout"]["title"]["text"]
    assert at.dataframe[-1].value.columns[0] == other.replace("_", " ").capitalize()


def test_under_min_n_says_so_instead_of_drawing(app_env: Path) -> None:
    query = {"period": "custom", "from": "2026-06-24", "to": "2026-06-30",
             "region": "Gorenjska", "why": "nps"}  # fmt: skip
    at = new_app(query)
    at.run()
    assert_clean(at)
    ctx = at.session_state["_cx_ctx"]
    now = queries.kpis(connect(app_env), ctx.filters, ctx.th).nps.n
    assert 0 < now < ctx.th.min_n  # the filter really leaves too few answers
    assert not waterfalls(at)
    infos = " ".join(i.value for i in at.info).replace("\\", "")  # Markdown-escaped
    assert (f"Not enough answers for NPS in the current period (n = {now}, at least "
            f"{ctx.th.min_n} needed)") in infos  # fmt: skip


# --- two dimensions at once (Das Gupta) on the Trends page -----------------------------------


def hand_built() -> explain.Explanation2D:
    """NPS 40.0 → 40.5 along plan × channel: the mix of plans -2.0, of channels -3.0, within
    cells +5.5; the app × Premium cell has n 4 now (under min n 10: small)."""
    cells = pd.DataFrame([
        ("Basic", "web", 300, 200, 30.0, 25.0, 0.5, 0.4, -1.0, -1.5, 2.0),
        ("Basic", "app", 200, 150, 50.0, 45.0, 0.3, 0.3, -0.5, -1.0, 1.5),
        ("Premium", "web", 96, 120, 61.0, 57.0, 0.19, 0.24, -0.4, -0.4, 2.1),
        ("Premium", "app", 4, 30, 75.0, 12.5, 0.01, 0.06, -0.1, -0.1, -0.1),
    ], columns=["a", "b", "n_now", "n_prev", "value_now", "value_prev", "weight_now",
                "weight_prev", "mix_a", "mix_b", "within"])  # fmt: skip
    cells["contribution"] = cells[["mix_a", "mix_b", "within"]].sum(axis=1)
    cells["small"] = [False, False, False, True]
    return explain.Explanation2D(
        metric="nps", dimensions=("plan", "channel"), value_now=40.5, value_prev=40.0,
        total=0.5, mix_a=-2.0, mix_b=-3.0, within=5.5, total_ci=(-1.5, 2.5),
        mix_a_ci=(-2.8, -1.1), mix_b_ci=(-4.0, -2.2), within_ci=(3.9, 7.0), n_now=600,
        n_prev=500, cells=cells[list(explain.CELL_COLUMNS)], pooled=(0, 0), min_n=10,
        bootstrap=200, seed=0,
    )  # fmt: skip


def test_waterfall2_draws_the_three_effects_between_the_two_levels() -> None:
    ex = hand_built()
    fig = charts.waterfall2_figure(ex).to_plotly_json()
    trace, whiskers = fig["data"]
    assert trace["type"] == "waterfall" and trace["orientation"] == "h"
    assert list(trace["y"]) == ["start", "mix_a", "mix_b", "within", "end"]
    assert list(trace["measure"]) == ["absolute", "relative", "relative", "relative", "total"]
    assert list(trace["x"]) == pytest.approx([40.0, -2.0, -3.0, 5.5, 40.5])
    assert sum(trace["x"][1:-1]) == pytest.approx(ex.total)
    assert list(fig["layout"]["yaxis"]["ticktext"]) == [
        "Comparison period", "Mix of plans", "Mix of channels", "Within cells", "Current period"
    ]  # fmt: skip
    assert trace["increasing"]["marker"]["color"] == charts.GOOD
    # whiskers around each step's end: 40 → 38 → 35 → 40.5, each CI from its step's start
    assert list(whiskers["x"]) == pytest.approx([38.0, 35.0, 40.5])
    lows = np.array(whiskers["x"]) - np.array(whiskers["error_x"]["arrayminus"])
    highs = np.array(whiskers["x"]) + np.array(whiskers["error_x"]["array"])
    assert lows.tolist() == pytest.approx([40 - 2.8, 38 - 4.0, 35 + 3.9])
    assert highs.tolist() == pytest.approx([40 - 1.1, 38 - 2.2, 35 + 7.0])
    low, high = fig["layout"]["xaxis"]["range"]
    assert low < 34.0 and high > 42.0  # every whisker fits
    # the numbers' column, as in one dimension
    notes = [(n["y"], n["text"]) for n in fig["layout"]["annotations"]]
    assert notes == [("start", "40.0"), ("mix_a", "-2.0"), ("mix_b", "-3.0"),
                     ("within", "+5.5"), ("end", "40.5")]  # fmt: skip
    hover = trace["customdata"]
    assert hover[1] == ("<b>Mix of plans</b><br>mix effect -2.0 pts (95% CI -2.8 – -1.1 pts)"
                        "<br>the answers' shift between plans (2 values)<br>"
                        "n = 500 → 600 answers")  # fmt: skip
    assert "within-cell effect +5.5 pts (95% CI +3.9 – +7.0 pts)" in hover[3]
    assert "plan × channel cells themselves got better or worse (4 cells)" in hover[3]
    assert "NPS 40.5 · n = 600<br>change +0.5 pts (95% CI -1.5 – +2.5 pts)" in hover[4]
    assert "= mix of plans -2.0 pts + mix of channels -3.0 pts + within cells +5.5 pts" in hover[4]
    assert charts.change_story2(ex) == (
        "NPS rose 0.5 points: +5.5 pts within plan × channel cells, -3.0 pts from the shift "
        "between channels, -2.0 pts from the shift between plans."
    )


def test_waterfall2_shares_the_one_dimension_drawing() -> None:
    """Both figures come from one drawing core: the same layout around different bars."""
    one, two = charts.waterfall_figure(trap()), charts.waterfall2_figure(hand_built())
    lay1, lay2 = one.to_plotly_json()["layout"], two.to_plotly_json()["layout"]
    assert lay1["margin"] == lay2["margin"] and lay1["height"] == lay2["height"]  # 5 bars each
    assert lay1["xaxis"]["title"] == lay2["xaxis"]["title"]


def test_cells_table_withholds_a_small_cells_values() -> None:
    from pages._shared.why import cells_table

    table = cells_table(hand_built())
    assert list(table.columns) == [
        "Plan", "Channel", "n before", "n now", "NPS before", "NPS now", "within (pts)",
        "mix of plans (pts)", "mix of channels (pts)",
    ]  # fmt: skip
    # largest |within + mix| first (1.3, 0.5, 0.0), the small cell last with its n only
    assert list(zip(table["Plan"], table["Channel"], strict=True)) == [
        ("Premium", "web"), ("Basic", "web"), ("Basic", "app"), ("Premium", "app")
    ]  # fmt: skip
    assert table.iloc[0].tolist() == ["Premium", "web", 120, 96, "57.0", "61.0", "+2.10",
                                      "-0.40", "-0.40"]  # fmt: skip
    small = table.iloc[-1]
    assert (small["n before"], small["n now"]) == (30, 4)
    assert small.iloc[4:].tolist() == ["n too small (n=4)"] * 5
    assert "75.0" not in table.to_string() and "12.5" not in table.to_string()


def engine2(at, demo_dir: Path, metric: str, a: str, b: str) -> explain.Explanation2D:
    """The page's own periods run through the two-dimension engine directly."""
    ctx = at.session_state["_cx_ctx"]
    ex = explain.explain(connect(demo_dir), ctx.filters, ctx.previous, metric, [a, b], ctx.th)
    assert isinstance(ex, explain.Explanation2D)
    return ex


def test_trends_and_by_splits_along_two_dimensions(app_env: Path) -> None:
    at = test_app.open_link({"why.by": "region", "why.and": "touchpoint"}, "pages/trends.py")
    assert at.selectbox(key="trends.why.by").value == "region"
    assert at.selectbox(key="trends.why.and").value == "touchpoint"
    assert "region" not in at.selectbox(key="trends.why.and").options  # not twice
    ex = engine2(at, app_env, "nps", "region", "touchpoint")
    (fig,) = waterfalls(at)
    trace = fig["data"][0]
    assert trace["y"] == ["start", "mix_a", "mix_b", "within", "end"]
    assert trace["x"] == pytest.approx([ex.value_prev, ex.mix_a, ex.mix_b, ex.within,
                                        ex.value_now])  # fmt: skip
    assert sum(trace["x"][1:-1]) == pytest.approx(ex.total, abs=1e-9)
    assert trace["x"][0] + sum(trace["x"][1:-1]) == pytest.approx(trace["x"][-1], abs=1e-9)
    lo, hi = ex.mix_a_ci
    assert f"(95% CI {lo:+.1f} – {hi:+.1f} pts)" in trace["customdata"][1]
    # too long a title for a phone ("… by region × touchpoint"): the bars name the two
    assert "<b>Why NPS moved</b>" in fig["layout"]["title"]["text"]
    captions = " ".join(c.value.replace("\\", "") for c in at.caption)
    assert charts.change_story2(ex) in captions and "Das Gupta" in captions
    # the table of cells: every cell's n; a small cell's values never shown
    table = at.dataframe[-1].value
    assert len(table) == len(ex.cells)
    assert table["n now"].sum() == ex.n_now and table["n before"].sum() == ex.n_prev
    small = ex.cells[ex.cells["small"]]
    assert len(small) > 0  # region × touchpoint has small cells on the demo
    shown = table.set_index(["Region", "Touchpoint"])
    for _, cell in small.iterrows():
        row = shown.loc[(cell["a"], cell["b"])]
        assert (row["n before"], row["n now"]) == (cell["n_prev"], cell["n_now"])
        assert all(str(v).startswith("n too small") for v in row.iloc[2:]), row
    big = ex.cells[~ex.cells["small"]]
    top = big.loc[big["contribution"].abs().idxmax()]
    first = table.iloc[0]
    assert (first["Region"], first["Touchpoint"]) == (top["a"], top["b"])
    assert first["NPS now"] == f"{top['value_now']:.1f}"
    assert first["within (pts)"] == f"{top['within']:+.2f}"
    assert at.query_params["why.and"] == "touchpoint"  # the link keeps the second dimension
    # choosing another second dimension redraws; "nothing" is one dimension again
    at.selectbox(key="trends.why.and").set_value("plan").run()
    assert_clean(at)
    assert at.query_params["why.and"] == "plan"
    ex_plan = engine2(at, app_env, "nps", "region", "plan")
    (fig,) = waterfalls(at)
    assert fig["data"][0]["x"][1:4] == pytest.approx([ex_plan.mix_a, ex_plan.mix_b,
                                                      ex_plan.within])  # fmt: skip
    assert "<b>Why NPS moved, by region × plan</b>" in fig["layout"]["title"]["text"]
    at.selectbox(key="trends.why.and").set_value("").run()
    assert_clean(at)
    assert "why.and" not in at.query_params
    _, one = engine(at, app_env, "nps", "region")
    (fig,) = waterfalls(at)
    assert fig["data"][0]["x"] == pytest.approx(charts.waterfall_bars(one)["value"].tolist())


@pytest.mark.parametrize("second", ["galaxy", "region"])
def test_a_bad_and_by_falls_back_to_one_dimension(app_env: Path, second: str) -> None:
    at = test_app.open_link({"why.by": "region", "why.and": second}, "pages/trends.py")
    assert at.selectbox(key="trends.why.by").value == "region"
    assert at.selectbox(key="trends.why.and").value == ""
    assert "why.and" not in at.query_params
    _, one = engine(at, app_env, "nps", "region")
    (fig,) = waterfalls(at)
    assert "mix_a" not in fig["data"][0]["y"]
    assert fig["data"][0]["x"] == pytest.approx(charts.waterfall_bars(one)["value"].tolist())
    assert at.dataframe[-1].value.columns[0] == "Region"  # the table of segments


def test_overview_has_no_second_dimension(app_env: Path) -> None:
    at = new_app({"why": "nps", "why.by": "plan", "why.and": "region"})
    at.run()
    assert_clean(at)
    assert not [s for s in at.selectbox if s.key == "overview.why.and"]
    (fig,) = waterfalls(at)
    assert "mix_a" not in fig["data"][0]["y"]
