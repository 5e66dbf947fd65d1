"""Change decomposition (cxdata.explain): exact sums, the mix trap, pooling, the demo's
planted business decline, and the CLI's JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import random_responses
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata import catalog, demo, explain, queries, schema
from cxdata.config import Thresholds
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.store import Store, close, connect

ROOT = Path(__file__).resolve().parent.parent
END = dt.date(2026, 6, 30)
NOW = Filters.make(dt.date(2025, 7, 1), END)
PREV = Filters.make(dt.date(2024, 7, 1), dt.date(2025, 6, 30))


# --- the pure decomposition ----------------------------------------------------------------


def _nps_counts(table: list[tuple[str, str, int, int, int]]) -> pd.DataFrame:
    """(segment, period, promoters, passives, detractors) rows → a counts frame."""
    frame = pd.DataFrame(table, columns=["segment", "period", "promoters", "passives",
                                         "detractors"])
    frame["nps_n"] = frame[["promoters", "passives", "detractors"]].sum(axis=1)
    return frame.drop(columns="passives")


cell = st.integers(0, 400)
segment_rows = st.lists(st.tuples(cell, cell, cell, cell, cell, cell), min_size=1, max_size=9)


@settings(max_examples=50, deadline=None)
@given(rows=segment_rows, min_n=st.integers(1, 40))
def test_within_plus_mix_is_the_total_change(
    rows: list[tuple[int, ...]], min_n: int
) -> None:
    table = []
    for i, (p1, m1, d1, p0, m0, d0) in enumerate(rows):
        table += [(f"s{i}", "now", p1, m1, d1), (f"s{i}", "prev", p0, m0, d0)]
    counts = _nps_counts(table)
    th = Thresholds(min_n=min_n, low_base=max(30, min_n))
    sums = counts.groupby("period")[["promoters", "detractors", "nps_n"]].sum()
    if (sums["nps_n"] < min_n).any():
        with pytest.raises(explain.NotEnoughAnswers):
            explain.decompose(counts, "nps", th, bootstrap=0)
        return
    res = explain.decompose(counts, "nps", th, bootstrap=0)
    # independent plain pandas: NPS = 100·(P − D)/n of each period's answers
    nps = 100 * (sums["promoters"] - sums["detractors"]) / sums["nps_n"]
    expected = float(nps["now"] - nps["prev"])
    assert res.within + res.mix == pytest.approx(expected, abs=1e-9)
    assert res.total == pytest.approx(expected, abs=1e-9)
    seg = res.segments
    assert seg["contribution"].sum() == pytest.approx(expected, abs=1e-9)
    assert seg["n_now"].sum() == sums.loc["now", "nps_n"]
    assert seg["n_prev"].sum() == sums.loc["prev", "nps_n"]
    # every shown segment has at least min_n answers in both periods; the rest is pooled
    shown = seg[~seg["pooled"]]
    assert (shown["n_now"] >= min_n).all() and (shown["n_prev"] >= min_n).all()
    # a shown segment's terms are w̄·Δr and r̄·Δw of its own NPS (pandas)
    by_seg = counts.set_index(["segment", "period"])
    for row in shown.itertuples():
        now, prev = by_seg.loc[(row.segment, "now")], by_seg.loc[(row.segment, "prev")]
        r1 = 100 * (now.promoters - now.detractors) / now.nps_n
        r0 = 100 * (prev.promoters - prev.detractors) / prev.nps_n
        w1, w0 = now.nps_n / sums.loc["now", "nps_n"], prev.nps_n / sums.loc["prev", "nps_n"]
        assert row.within == pytest.approx((w1 + w0) / 2 * (r1 - r0), abs=1e-9)
        assert row.mix == pytest.approx((r1 + r0) / 2 * (w1 - w0), abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(1, 300), st.floats(1, 7), st.integers(1, 300),
                               st.floats(1, 7)), min_size=1, max_size=6))
def test_ces_mean_decomposes_exactly(rows: list[tuple[int, float, int, float]]) -> None:
    table = []
    for i, (n1, m1, n0, m0) in enumerate(rows):
        for period, n, mean in (("now", n1, m1), ("prev", n0, m0)):
            table.append({"segment": f"s{i}", "period": period, "ces_n": n,
                          "ces_sum": n * mean, "ces_sumsq": n * mean**2 + n})
    counts = pd.DataFrame(table)
    res = explain.decompose(counts, "ces", Thresholds(min_n=1, low_base=30), bootstrap=40)
    sums = counts.groupby("period")[["ces_sum", "ces_n"]].sum()
    expected = float(sums.loc["now", "ces_sum"] / sums.loc["now", "ces_n"]
                     - sums.loc["prev", "ces_sum"] / sums.loc["prev", "ces_n"])
    assert res.within + res.mix == pytest.approx(expected, abs=1e-9)
    assert res.total_ci is not None and res.total_ci[0] <= res.total_ci[1]


def test_segment_missing_in_one_period_is_mix() -> None:
    within, mix = explain.kitagawa(
        np.array([10.0, 5.0]), np.array([50.0, 20.0]),
        np.array([10.0, 0.0]), np.array([40.0, np.nan]),
    )
    assert within[1] == 0.0
    assert mix[1] == pytest.approx(20.0 * 5 / 15)
    assert within.sum() + mix.sum() == pytest.approx((10 * 50 + 5 * 20) / 15 - 40.0, abs=1e-12)


# --- the classic trap ------------------------------------------------------------------------

# Both segments improve by 5 points, but the answers move from the strong segment A (800 →
# 200) to the weak B (200 → 800): total NPS falls from 40 to 15.
TRAP = [
    ("A", "prev", 480, 240, 80), ("B", "prev", 60, 80, 60),  # NPS 50 and 0
    ("A", "now", 120, 70, 10), ("B", "now", 240, 360, 200),  # NPS 55 and 5
]


def test_trap_every_segment_improves_while_the_total_falls() -> None:
    res = explain.decompose(_nps_counts(TRAP), "nps", Thresholds(), bootstrap=200, seed=1)
    assert (res.value_prev, res.value_now) == (pytest.approx(40.0), pytest.approx(15.0))
    assert res.total == pytest.approx(-25.0)
    assert res.within == pytest.approx(5.0)  # w̄ = ½ each, Δr = +5 each
    assert res.mix == pytest.approx(-30.0)  # r̄ 52.5·(−0.6) + 2.5·(+0.6)
    assert res.mix_ci is not None and res.mix_ci[1] < 0
    assert res.within_ci is not None and res.within_ci[0] < 5.0 < res.within_ci[1]
    seg = res.segments.set_index("segment")
    assert (seg["value_now"] > seg["value_prev"]).all()
    assert seg.loc["A", "within"] == pytest.approx(2.5)
    assert seg.loc["B", "within"] == pytest.approx(2.5)


def _trap_responses() -> pd.DataFrame:
    """TRAP as single answers: segment in `plan`, prev in 2025, now in 2026."""
    rows = []
    days = {"prev": pd.Timestamp("2025-03-01"), "now": pd.Timestamp("2026-03-01")}
    for seg, period, p, m, d in TRAP:
        for score, k in ((10, p), (8, m), (3, d)):
            rows += [(seg, days[period], score)] * k
    frame = pd.DataFrame(rows, columns=["plan", "submitted_at", "nps"])
    frame["submitted_at"] += pd.to_timedelta(np.arange(len(frame)) % 20, unit="D")
    frame["nps"] = frame["nps"].astype("Int8")
    frame["csat"] = pd.array([pd.NA] * len(frame), dtype="Int8")
    frame["ces"] = pd.array([pd.NA] * len(frame), dtype="Int8")
    frame["region"] = np.where(np.arange(len(frame)) % 2 == 0, "North", "South")
    frame.insert(0, "response_id", [f"t{i}" for i in range(len(frame))])
    return frame


def test_trap_on_a_store_matches_the_dashboard(tmp_path: Path) -> None:
    store = connect(tmp_path)
    try:
        store.replace_table(schema.RESPONSES, _trap_responses())
        now = Filters.make(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
        prev = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        res = explain.explain(store, now, prev, "nps", "plan", bootstrap=50)
        assert (res.within, res.mix) == (pytest.approx(5.0), pytest.approx(-30.0))
        change = queries.compare(store, now, prev, metrics=["nps"])["nps_change"].iloc[0]
        assert res.total == pytest.approx(float(change), abs=1e-9)
        k_now, k_prev = queries.kpis(store, now).nps, queries.kpis(store, prev).nps
        assert k_now.value is not None and k_prev.value is not None
        assert res.total == pytest.approx(k_now.value - k_prev.value, abs=1e-3)  # kpis: 4 dp
        assert (res.n_now, res.n_prev) == (k_now.n, k_prev.n)
        # the default dimension is the one that explains the move: plan (mix), not region
        assert explain.explain(store, now, prev, "nps", bootstrap=0).dimension == "plan"
        with pytest.raises(CxError, match="one or two dimensions"):
            explain.explain(store, now, prev, "nps", ["plan", "region", "plan"])
    finally:
        close(tmp_path)


# --- pooling under min_n ------------------------------------------------------------------


def test_small_segments_are_pooled_as_other() -> None:
    table = [
        ("big", "now", 60, 30, 10), ("big", "prev", 50, 30, 20),
        ("mid", "now", 20, 10, 10), ("mid", "prev", 15, 15, 10),
        ("tiny", "now", 3, 2, 1), ("tiny", "prev", 10, 5, 5),  # 6 answers now
        ("rare", "now", 2, 2, 2), ("rare", "prev", 1, 1, 1),  # under 10 in both
        ("new", "now", 30, 10, 0),  # absent before: n_prev = 0
    ]
    counts = _nps_counts(table)
    res = explain.decompose(counts, "nps", Thresholds(min_n=10, low_base=30), bootstrap=100)
    seg = res.segments.set_index("segment")
    assert list(seg.index) == ["big", "mid", "Other"]
    other = seg.loc["Other"]
    assert bool(other["pooled"]) and other["members"] == 3
    assert (other["n_now"], other["n_prev"]) == (6 + 6 + 40, 20 + 3 + 0)
    assert other["value_now"] == pytest.approx(100 * (35 - 3) / 52)
    sums = counts.groupby("period")[["promoters", "detractors", "nps_n"]].sum()
    nps = 100 * (sums["promoters"] - sums["detractors"]) / sums["nps_n"]
    assert res.within + res.mix == pytest.approx(float(nps["now"] - nps["prev"]), abs=1e-9)
    assert seg["within_ci_low"].le(seg["within"]).all()
    # a real value named "Other" keeps its name; the pool gets another
    renamed = counts.assign(segment=counts["segment"].replace({"mid": "Other"}))
    pooled = explain.decompose(renamed, "nps", Thresholds(min_n=10, low_base=30), bootstrap=0)
    assert list(pooled.segments["segment"]) == ["big", "Other", "Other (pooled)"]


# --- the demo's planted business decline ------------------------------------------------------


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from cxdata.demo import demo_responses

    path = tmp_path_factory.mktemp("explain-demo")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo_responses(rows=60_000, seed=7, end=END))
    yield path
    close(path)


@pytest.fixture()
def demo_store(demo_dir: Path) -> Store:
    return connect(demo_dir)


def test_demo_business_decline_is_a_within_effect(demo_store: Store) -> None:
    res = explain.explain(demo_store, NOW, PREV, "nps", "customer_type", seed=3)
    seg = res.segments.set_index("segment")
    business = seg.loc["business"]
    # business NPS fell by ~15 points year on year (planted), private did not
    assert business["value_now"] - business["value_prev"] < -10
    assert business["within"] < -2.5 and business["within_ci_high"] < 0
    assert seg.loc["private", "within"] > 0
    assert res.within < 0 and res.within_ci is not None and res.within_ci[1] < 0
    assert abs(res.mix) < 0.3  # the customer mix did not move
    change = queries.compare(demo_store, NOW, PREV, metrics=["nps"])["nps_change"].iloc[0]
    assert res.within + res.mix == pytest.approx(float(change), abs=1e-9)
    # customer_type is the dimension that explains the year's NPS move best
    ranking = explain.rank_dimensions(demo_store, NOW, PREV, "nps")
    assert ranking["dimension"].iloc[0] == "customer_type"
    assert "customer_id" not in set(ranking["dimension"])
    assert explain.explain(demo_store, NOW, PREV, bootstrap=0).dimension == "customer_type"


def test_demo_delivery_quarter_is_parcel_delivery_in_vastra_gotaland(demo_store: Store) -> None:
    """The planted delivery spike: in its region, the quarter's NPS drop is explained by
    touchpoint (the default dimension), and parcel delivery is the largest part of it."""
    spike = next(e for e in demo.planted_effects(END) if e.name == "Delivery friction spike")
    region = Filters.make(spike.start, spike.end, {"region": [spike.filters["region"]]})
    current, previous = explain.comparison_filters(demo_store, region)
    res = explain.explain(demo_store, current, previous, "nps", seed=1)
    assert res.dimension == "touchpoint"
    assert res.total < -5  # 60k rows: ~700 answers a quarter in the region, so wide CIs
    seg = res.segments[~res.segments["pooled"]].set_index("segment")
    assert seg["within"].idxmin() == spike.filters["touchpoint"]
    top = seg.loc[spike.filters["touchpoint"]]
    assert top["within"] < 0.5 * res.total and top["within_ci_high"] < 0  # the bulk of it


@pytest.mark.parametrize("metric", ["csat", "ces", "friction"])
def test_demo_other_metrics_sum_to_the_dashboards_change(demo_store: Store, metric: str) -> None:
    res = explain.explain(demo_store, NOW, PREV, metric, "channel", bootstrap=50)
    change = queries.compare(demo_store, NOW, PREV, metrics=[metric])[f"{metric}_change"]
    assert res.within + res.mix == pytest.approx(float(change.iloc[0]), abs=1e-9)
    assert res.total_ci is not None and res.total_ci[0] < res.total < res.total_ci[1]


@pytest.mark.parametrize("metric", ["nps", "csat", "friction"])
def test_explain_ranked_is_explain_along_that_dimension(demo_store: Store, metric: str) -> None:
    """The dashboard explains a ranked dimension from rank_dimensions' counts (kept through
    the cache's pickling) instead of a second query: every field must be what explain
    itself gives, bootstrap intervals included."""
    ranking = pickle.loads(pickle.dumps(explain.rank_dimensions(demo_store, NOW, PREV, metric)))
    assert len(ranking) >= 3
    for dim in ranking["dimension"]:
        fast = explain.explain_ranked(ranking, dim, metric, NOW, PREV, bootstrap=40, seed=2)
        slow = explain.explain(demo_store, NOW, PREV, metric, dim, bootstrap=40, seed=2)
        for f in dataclasses.fields(slow):
            got, want = getattr(fast, f.name), getattr(slow, f.name)
            if isinstance(want, pd.DataFrame):
                pd.testing.assert_frame_equal(got, want, check_exact=True)
            else:
                assert got == want or (got != got and want != want), f.name
    with pytest.raises(KeyError):
        explain.explain_ranked(ranking, "customer_id", metric, NOW, PREV)


def test_comparison_filters_default_to_the_last_90_days(demo_store: Store) -> None:
    now, prev = explain.comparison_filters(demo_store, Filters.make(where={"plan": ["Basic"]}))
    assert (now.start, now.end) == (END - dt.timedelta(days=89), END)
    assert (prev.start, prev.end) == (END - dt.timedelta(days=179), END - dt.timedelta(days=90))
    assert prev.dims() == {"plan": ("Basic",)}


# --- the CLI -------------------------------------------------------------------------------


def test_cli_json_shape(demo_dir: Path) -> None:
    env = {**os.environ, "CX_DATA_DIR": str(demo_dir)}
    env.pop("CX_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "cxdata", "explain", "--metric", "nps", "--by",
         "customer_type", "--from", "2025-07-01", "--to", "2026-06-30", "--bootstrap", "50",
         "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["metric"] == "nps" and out["dimension"] == "customer_type"
    assert out["current"] == {"from": "2025-07-01", "to": "2026-06-30"}
    assert out["previous"] == {"from": "2024-07-01", "to": "2025-06-30"}
    assert out["bootstrap"] == 50
    assert out["within"] + out["mix"] == pytest.approx(out["total"], abs=2e-4)
    assert out["total"] == pytest.approx(out["value_now"] - out["value_prev"], abs=2e-4)
    for key in ("total_ci", "within_ci", "mix_ci"):
        assert len(out[key]) == 2 and out[key][0] <= out[key][1]
    assert {s["segment"] for s in out["segments"]} == {"business", "private"}
    assert set(out["segments"][0]) == set(explain.SEGMENT_COLUMNS)
    assert sum(s["n_now"] for s in out["segments"]) == out["n_now"]
    business = next(s for s in out["segments"] if s["segment"] == "business")
    assert business["within"] < 0
    bad = subprocess.run([sys.executable, "-m", "cxdata", "explain", "--by", "nope"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "unknown dimension 'nope'" in bad.stderr


# --- two dimensions at once: Das Gupta ---------------------------------------------------------


def _cell_counts(table: dict[tuple[str, str, str], tuple[int, int, int]]) -> pd.DataFrame:
    """{(a, b, period): (promoters, passives, detractors)} → cell counts with columns A, B."""
    rows = [
        {"A": a, "B": b, "period": period, "promoters": p, "detractors": d,
         "nps_n": p + m + d}
        for (a, b, period), (p, m, d) in table.items()
    ]
    return pd.DataFrame(rows)


def _nps_of(frame: pd.DataFrame) -> pd.Series:
    sums = frame.groupby("period")[["promoters", "detractors", "nps_n"]].sum()
    return 100 * (sums["promoters"] - sums["detractors"]) / sums["nps_n"]


cell_table = st.dictionaries(
    st.tuples(st.sampled_from(["a1", "a2", "a3", "a4"]), st.sampled_from(["b1", "b2", "b3"]),
              st.sampled_from(["now", "prev"])),
    st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300)),
    min_size=1, max_size=24,
)


@settings(max_examples=60, deadline=None)
@given(table=cell_table, min_n=st.integers(1, 60))
def test_das_gupta_effects_sum_exactly_and_are_symmetric(
    table: dict[tuple[str, str, str], tuple[int, int, int]], min_n: int
) -> None:
    counts = _cell_counts(table)
    th = Thresholds(min_n=min_n, low_base=max(30, min_n))
    nps = _nps_of(counts)
    n = counts.groupby("period")["nps_n"].sum()
    if len(nps) < 2 or (n < min_n).any():
        with pytest.raises(explain.NotEnoughAnswers):
            explain.decompose_two(counts, ["A", "B"], "nps", th, bootstrap=0)
        return
    res = explain.decompose_two(counts, ["A", "B"], "nps", th, bootstrap=0)
    expected = float(nps["now"] - nps["prev"])  # plain pandas on all answers
    assert res.mix_a + res.mix_b + res.within == pytest.approx(expected, abs=1e-12)
    assert res.total == pytest.approx(expected, abs=1e-12)
    assert res.cells["contribution"].sum() == pytest.approx(expected, abs=1e-12)
    assert sum(res.effects.values()) == pytest.approx(res.total, abs=1e-12)
    assert (res.cells["n_now"].sum(), res.cells["n_prev"].sum()) == (n["now"], n["prev"])
    # the rate effect is Kitagawa's within along the cells (w̄·Δr of cells in both periods)
    cells = res.cells
    both = (cells["n_now"] > 0) & (cells["n_prev"] > 0)
    w_bar = (cells["weight_now"] + cells["weight_prev"]) / 2
    delta = cells["value_now"] - cells["value_prev"]
    assert res.within == pytest.approx(float((w_bar * delta)[both].sum()), abs=1e-9)
    # values shown on a margin have at least min_n answers in both periods; others pooled
    for col, dim in (("a", "A"), ("b", "B")):
        shown = set(cells[col]) - {"Other"}
        margin = counts[counts[dim].isin(shown)].groupby([dim, "period"])["nps_n"].sum()
        assert (margin >= min_n).all() and len(margin) == 2 * len(shown)
    # symmetric: A and B exchanged → their mix effects exchange; periods exchanged → −effects
    swapped = explain.decompose_two(counts, ["B", "A"], "nps", th, bootstrap=0)
    assert (swapped.mix_a, swapped.mix_b, swapped.within) == (
        pytest.approx(res.mix_b, abs=1e-12), pytest.approx(res.mix_a, abs=1e-12),
        pytest.approx(res.within, abs=1e-12))
    back = counts.assign(period=counts["period"].map({"now": "prev", "prev": "now"}))
    reverse = explain.decompose_two(back, ["A", "B"], "nps", th, bootstrap=0)
    assert (reverse.mix_a, reverse.mix_b, reverse.within) == (
        pytest.approx(-res.mix_a, abs=1e-12), pytest.approx(-res.mix_b, abs=1e-12),
        pytest.approx(-res.within, abs=1e-12))


@settings(max_examples=40, deadline=None)
@given(rows=segment_rows, min_n=st.integers(1, 40))
def test_das_gupta_with_one_b_value_is_kitagawa(rows: list[tuple[int, ...]], min_n: int) -> None:
    table = []
    for i, (p1, m1, d1, p0, m0, d0) in enumerate(rows):
        table += [(f"s{i}", "now", p1, m1, d1), (f"s{i}", "prev", p0, m0, d0)]
    one = _nps_counts(table)
    th = Thresholds(min_n=min_n, low_base=max(30, min_n))
    if (one.groupby("period")["nps_n"].sum() < min_n).any():
        return
    two = one.rename(columns={"segment": "A"}).assign(B="all")
    k = explain.decompose(one, "nps", th, bootstrap=0)
    d = explain.decompose_two(two, ["A", "B"], "nps", th, bootstrap=0)
    assert d.mix_a == pytest.approx(k.mix, abs=1e-12)
    assert d.within == pytest.approx(k.within, abs=1e-12)
    assert d.mix_b == pytest.approx(0.0, abs=1e-12)
    assert list(d.cells["a"]) == list(k.segments["segment"])  # same pooling, same order
    assert np.allclose(d.cells["mix_a"], k.segments["mix"], atol=1e-12, rtol=0)
    assert np.allclose(d.cells["within"], k.segments["within"], atol=1e-12, rtol=0)


def test_das_gupta_by_hand() -> None:
    # CSAT top-2 share (in %) on a 2×2 table, (n, hits) per cell:
    #            prev                      now
    #        b1         b2            b1          b2
    #  a1  25 (60%)  25 (40%)     36 (75%)   12 (50%)
    #  a2  25 (40%)  25 (20%)     12 (25%)    4 (25%)
    # totals: prev 40/100 = 40%, now 37/64 = 57.8125%, Δ = 17.8125 pp.
    # Both tables are independent, so α = share of the row's A value, β = of the column's B:
    #   prev α = β = ½ everywhere; now α = ¾ (a1), ¼ (a2); β = ¾ (b1), ¼ (b2).
    # within = Σ w̄·Δr, w̄ = (36/64 + ¼)/2 = .40625, (12/64 + ¼)/2 = .21875, (4/64 + ¼)/2 = .15625:
    #   .40625·15 + .21875·10 + .21875·(−15) + .15625·5 = 5.78125
    # r̄ = 67.5, 45 / 32.5, 22.5; β̄ = .625 (b1), .375 (b2); Δα = +¼ (a1), −¼ (a2):
    #   mix_A = ¼·(.625·(67.5 − 32.5) + .375·(45 − 22.5)) = ¼·30.3125 = 7.578125
    # ᾱ = .625 (a1), .375 (a2); Δβ = +¼ (b1), −¼ (b2):
    #   mix_B = ¼·(.625·(67.5 − 45) + .375·(32.5 − 22.5)) = ¼·17.8125 = 4.453125
    # check: 5.78125 + 7.578125 + 4.453125 = 17.8125.
    cells = {("a1", "b1"): ((25, 15), (36, 27)), ("a1", "b2"): ((25, 10), (12, 6)),
             ("a2", "b1"): ((25, 10), (12, 3)), ("a2", "b2"): ((25, 5), (4, 1))}
    rows = []
    for (a, b), ((n0, h0), (n1, h1)) in cells.items():
        rows += [{"A": a, "B": b, "period": "prev", "csat_n": n0, "csat_top2": h0},
                 {"A": a, "B": b, "period": "now", "csat_n": n1, "csat_top2": h1}]
    res = explain.decompose_two(pd.DataFrame(rows), ["A", "B"], "csat",
                                Thresholds(min_n=1, low_base=30), bootstrap=200, seed=2)
    assert (res.value_prev, res.value_now) == (pytest.approx(40.0), pytest.approx(57.8125))
    assert res.total == pytest.approx(17.8125, abs=1e-12)
    assert res.within == pytest.approx(5.78125, abs=1e-12)
    assert res.mix_a == pytest.approx(7.578125, abs=1e-12)
    assert res.mix_b == pytest.approx(4.453125, abs=1e-12)
    assert res.effects == {"mix_A": res.mix_a, "mix_B": res.mix_b, "within": res.within}
    first = res.cells.iloc[0]  # a1 × b1: 67.5·.625·¼, 67.5·.625·¼, .40625·15
    assert (first["a"], first["b"]) == ("a1", "b1")
    assert (first["mix_a"], first["mix_b"], first["within"]) == (
        pytest.approx(10.546875), pytest.approx(10.546875), pytest.approx(6.09375))
    for ci, value in ((res.total_ci, res.total), (res.mix_a_ci, res.mix_a),
                      (res.mix_b_ci, res.mix_b), (res.within_ci, res.within)):
        assert ci is not None and ci[0] < value < ci[1]
    out = res.as_dict()
    assert out["dimensions"] == ["A", "B"]
    assert out["effects"] == {"mix_A": 7.5781, "mix_B": 4.4531, "within": 5.7812}
    assert set(out["cells"][0]) == {"A", "B", "n_now", "n_prev", "value_now", "value_prev",
                                    "weight_now", "weight_prev", "mix_A", "mix_B", "within",
                                    "contribution", "small"}
    with pytest.raises(CxError, match="two different"):
        explain.decompose_two(pd.DataFrame(rows), ["A", "A"], "csat")


def test_das_gupta_pools_each_margin_and_fills_empty_cells() -> None:
    table = {
        ("a1", "b1", "now"): (50, 30, 20), ("a1", "b1", "prev"): (40, 30, 30),
        ("a1", "b2", "now"): (20, 10, 10), ("a1", "b2", "prev"): (30, 10, 10),
        ("a2", "b1", "now"): (30, 20, 10), ("a2", "b1", "prev"): (20, 20, 20),
        ("a2", "b2", "now"): (15, 5, 5),  # empty before: a mix effect, within 0
        ("a3", "b1", "now"): (2, 1, 1), ("a3", "b1", "prev"): (3, 2, 2),  # a3 under 10
        ("a1", "b3", "now"): (1, 1, 0), ("a2", "b3", "prev"): (2, 1, 1),  # b3 under 10
    }
    counts = _cell_counts(table)
    res = explain.decompose_two(counts, ["A", "B"], "nps", Thresholds(min_n=10, low_base=30),
                                bootstrap=50)
    cells = res.cells.set_index(["a", "b"])
    assert res.pooled == (1, 1)
    assert set(cells.index) == {("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2"),
                                ("Other", "b1"), ("a1", "Other"), ("a2", "Other")}
    assert (cells.loc[("a2", "b2"), "n_prev"], cells.loc[("a2", "b2"), "within"]) == (0, 0.0)
    assert bool(cells.loc[("a2", "b2"), "small"]) and not bool(cells.loc[("a1", "b1"), "small"])
    shown = {(c["A"], c["B"]): c for c in res.as_dict()["cells"]}  # a small cell: its n only
    assert shown[("a2", "b2")]["n_now"] == cells.loc[("a2", "b2"), "n_now"]
    assert {k: shown[("a2", "b2")][k] for k in ("value_now", "within", "mix_A")} == dict.fromkeys(
        ("value_now", "within", "mix_A"))
    assert shown[("a1", "b1")]["value_now"] is not None
    nps = _nps_of(counts)
    assert res.total == pytest.approx(float(nps["now"] - nps["prev"]), abs=1e-12)
    assert sum(res.effects.values()) == pytest.approx(res.total, abs=1e-12)


def test_demo_two_dimensions_sum_to_the_dashboards_change(demo_store: Store) -> None:
    res = explain.explain(demo_store, NOW, PREV, "nps", ["region", "customer_type"], seed=4)
    assert isinstance(res, explain.Explanation2D)
    k_now, k_prev = queries.kpis(demo_store, NOW).nps, queries.kpis(demo_store, PREV).nps
    assert k_now.value is not None and k_prev.value is not None
    assert res.total == pytest.approx(k_now.value - k_prev.value, abs=1e-3)  # kpis: 4 dp
    change = queries.compare(demo_store, NOW, PREV, metrics=["nps"])["nps_change"].iloc[0]
    assert res.mix_a + res.mix_b + res.within == pytest.approx(float(change), abs=1e-9)
    assert (res.n_now, res.n_prev) == (k_now.n, k_prev.n)
    assert res.dimensions == ("region", "customer_type")
    assert set(res.cells["b"]) == {"business", "private"}
    # the planted business decline is within the cells, not a shift of the mix
    assert res.within < 0 and res.within_ci is not None and res.within_ci[1] < 0
    assert abs(res.mix_b) < 0.3
    business = res.cells[res.cells["b"] == "business"]
    assert business["within"].sum() < -2.5
    # the same as explaining along customer_type alone when region's mix did not move much
    one = explain.explain(demo_store, NOW, PREV, "nps", "customer_type", bootstrap=0)
    assert res.within == pytest.approx(one.within, abs=0.5)


def test_cli_two_dimensions_json(demo_dir: Path) -> None:
    env = {**os.environ, "CX_DATA_DIR": str(demo_dir)}
    env.pop("CX_DATABASE_URL", None)
    args = [sys.executable, "-m", "cxdata", "explain", "--metric", "nps", "--by",
            "customer_type,channel", "--from", "2025-07-01", "--to", "2026-06-30",
            "--bootstrap", "40"]
    done = subprocess.run([*args, "--json"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["dimensions"] == ["customer_type", "channel"]
    assert set(out["effects"]) == {"mix_customer_type", "mix_channel", "within"}
    assert sum(out["effects"].values()) == pytest.approx(out["total"], abs=3e-4)
    assert out["total"] == pytest.approx(out["value_now"] - out["value_prev"], abs=2e-4)
    for c in [out["total_ci"], *out["effects_ci"].values()]:
        assert len(c) == 2 and c[0] <= c[1]
    assert sum(c["n_now"] for c in out["cells"]) == out["n_now"]
    assert {c["customer_type"] for c in out["cells"]} == {"business", "private"}
    assert out["effects"]["within"] < 0
    text = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert text.returncode == 0, text.stderr
    assert "NPS by customer_type × channel (Das Gupta)" in text.stdout
    assert "mix channel:" in text.stdout and "within" in text.stdout


def test_dimension_cardinality_is_kept_per_snapshot(tmp_path: Path) -> None:
    """Cached per lake snapshot: a write that adds a value is seen at once."""
    store = connect(tmp_path)
    try:
        frame = random_responses(400, seed=3)
        store.replace_table(schema.RESPONSES, frame)
        before = catalog.dimension_cardinality(store)
        assert before["region"] == frame["region"].nunique()
        assert catalog.dimension_cardinality(store) == before  # from the cache
        extra = frame.head(1).assign(response_id="new-1", region="Nowhere land")
        store.append_rows(schema.RESPONSES, extra)
        assert catalog.dimension_cardinality(store)["region"] == before["region"] + 1
    finally:
        close(tmp_path)
