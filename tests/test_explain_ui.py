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

from cxdata import explain, queries
from cxdata.config import Thresholds
from cxdata.store import connect
from pages._shared import charts
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
