"""Benjamini–Hochberg where many segments or themes are tested at once (issue 14, item 3):
the procedure against a plain reference, its false discovery rate on null simulations,
and the movers / segment-vs-rest tables and their wording built on it."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxdata import charts, fmt, schema, segments, stats
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.store import Store, close, connect


def plain_bh(p: list[float], q: float = 0.05) -> list[bool]:
    """Benjamini & Hochberg (1995) as the paper states it, written out with loops: among
    the tested (non-NaN) p-values sorted ascending, k = the largest i with p₍ᵢ₎ ≤ i·q/m;
    reject every hypothesis whose p ≤ p₍ₖ₎. Untested ones are never rejected."""
    tested = [x for x in p if not math.isnan(x)]
    m = len(tested)
    ranked = sorted(tested)
    k = 0
    for i in range(1, m + 1):
        if ranked[i - 1] <= i * q / m:
            k = i
    return [(not math.isnan(x)) and k > 0 and x <= ranked[k - 1] for x in p]


# --- the procedure -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(200))
def test_bh_matches_the_plain_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 60))
    # a mix of nulls (uniform), real effects (small p) and ties (rounded p-values)
    p = np.where(rng.random(m) < 0.3, rng.random(m) * 0.01, rng.random(m))
    if seed % 3 == 0:
        p = np.round(p, 2)  # many ties, some exactly on a threshold i·q/m
    p[rng.random(m) < 0.15] = np.nan  # untested
    q = [0.05, 0.1, 0.01][seed % 3]
    assert stats.bh_significant(p, q).tolist() == plain_bh(list(p), q)


def test_bh_on_hand_worked_examples() -> None:
    # m = 4: thresholds .0125 .025 .0375 .05; p₍₃₎ = .03 ≤ .0375 → the 3 smallest
    assert stats.bh_significant([0.03, 0.001, 0.2, 0.02]).tolist() == [True, True, False, True]
    # step-up: p₍₁₎ = .02 > .0125 but p₍₂₎ = .024 ≤ .025, so both are rejected
    assert stats.bh_significant([0.02, 0.024, 0.9, 0.8]).tolist() == [True, True, False, False]
    # ties at the cut-off are all rejected: p₍₂₎ = p₍₃₎ = .03 ≤ 3·.05/4
    assert stats.bh_significant([0.03, 0.03, 0.001, 0.9]).tolist() == [True, True, True, False]
    # NaN = not tested: not counted in m (one test left, p = .04 ≤ .05) and never True
    assert stats.bh_significant([np.nan, 0.04, np.nan]).tolist() == [False, True, False]
    assert stats.bh_significant([0.04, 0.9]).tolist() == [False, False]  # m = 2: .04 > .025
    assert stats.bh_significant([]).tolist() == []
    assert stats.bh_significant([np.nan, np.nan]).tolist() == [False, False]


def test_p_value_is_the_two_sided_normal_tail() -> None:
    p = stats.p_value([0.0, 1.959963984540054, -1.959963984540054, 3.0, np.inf, -np.inf, np.nan])
    np.testing.assert_allclose(p[:4], [1.0, 0.05, 0.05, 0.0026997960632601866], rtol=1e-12)
    assert p[4] == 0.0 and p[5] == 0.0 and np.isnan(p[6])
    # consistent with the 95% rule the single tests use
    z = np.linspace(-4, 4, 801)
    assert ((stats.p_value(z) < 0.05) == stats.is_significant(z)).sum() >= 799


def false_discovery_proportion(flagged: np.ndarray, null: np.ndarray) -> float:
    """V / R, with 0/0 = 0 (no discovery, no false one)."""
    r = int(flagged.sum())
    return 0.0 if r == 0 else int((flagged & null).sum()) / r


def test_fdr_on_null_simulations_stays_under_five_percent() -> None:
    """1,000 seeded runs of 20 true-null tests (p ~ Uniform): BH keeps the average false
    discovery proportion at 5%, while 20 tests at 95% each flag something in ~64% of the
    runs. With every hypothesis null the FDR of BH is exactly q (FDP = 1 whenever anything
    is flagged), so the average over 1,000 runs is checked against 5% plus three Monte
    Carlo standard errors of a proportion (0.021) — a tighter bound would just pick a seed."""
    rng = np.random.default_rng(20260514)
    runs, m = 1_000, 20
    fdp, any_plain = [], 0
    for _ in range(runs):
        p = rng.random(m)
        fdp.append(false_discovery_proportion(stats.bh_significant(p), np.ones(m, bool)))
        any_plain += bool((p < 0.05).any())
    mean_fdp = float(np.mean(fdp))
    assert mean_fdp <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
    assert mean_fdp > 0.02  # it does flag something now and then: the test is not vacuous
    assert any_plain / runs > 0.55  # uncorrected: 1 − 0.95²⁰ ≈ 0.64 of runs have a "finding"


def test_fdr_with_real_effects_stays_under_five_percent_and_finds_them() -> None:
    """1,000 seeded runs of 15 nulls and 5 real effects (z ~ N(4, 1)): the average false
    discovery proportion stays ≤ 5%, and nearly all the real effects are found."""
    rng = np.random.default_rng(7)
    runs, nulls, real = 1_000, 15, 5
    null = np.r_[np.ones(nulls, bool), np.zeros(real, bool)]
    fdp, found = [], 0
    for _ in range(runs):
        z = np.r_[rng.normal(0, 1, nulls), rng.normal(4, 1, real)]
        flagged = stats.bh_significant(stats.p_value(z))
        fdp.append(false_discovery_proportion(flagged, null))
        found += int(flagged[~null].sum())
    assert float(np.mean(fdp)) <= 0.05 * nulls / (nulls + real) + 0.01  # BH: FDR ≤ q·m₀/m
    assert found / (runs * real) > 0.85


# --- the tables ---------------------------------------------------------------------------

TH = Thresholds(min_n=30, low_base=100)
CUR = Filters.make(dt.date(2025, 2, 1), dt.date(2025, 2, 28))
PREV = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
CITIES, TEAMS = 40, 30


def null_frame(seed: int = 11, per_cell: int = 160) -> pd.DataFrame:
    """Two months of answers in 40 cities and 30 teams where nothing differs: every score
    is drawn from the same distribution, whatever the segment or the month."""
    rng = np.random.default_rng(seed)
    n = 2 * CITIES * per_cell
    month = np.repeat([0, 1], n // 2)
    day = rng.integers(0, 28, n)
    return pd.DataFrame(
        {
            "response_id": [f"N{seed}-{i}" for i in range(n)],
            "submitted_at": pd.to_datetime(
                np.where(month == 0, "2025-01-01", "2025-02-01")
            ) + pd.to_timedelta(day, unit="D"),
            "nps": pd.Series(rng.integers(0, 11, n), dtype="Int8"),
            "csat": pd.Series(rng.integers(1, 6, n), dtype="Int8"),
            "ces": pd.Series(rng.integers(1, 8, n), dtype="Int8"),
            "comment": None,
            "city": np.tile(np.repeat([f"city{i:02d}" for i in range(CITIES)], per_cell), 2),
            "team": rng.choice([f"team{i:02d}" for i in range(TEAMS)], n),
        }
    )


@pytest.fixture(scope="module")
def null_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("bh_null")
    store = connect(path)
    store.replace_table(schema.RESPONSES, null_frame())
    yield store
    close(path)


def test_movers_on_a_store_where_nothing_differs(null_store: Store) -> None:
    tested = segments.movers(null_store, CUR, PREV, ["city", "team"], "nps", TH, all_tested=True)
    # every segment has ≥ 100 answers in both months: all 70 are tested, all counted
    assert len(tested) == CITIES + TEAMS
    assert (tested["comparisons"] == CITIES + TEAMS).all()
    assert tested.attrs["comparisons"] == CITIES + TEAMS
    np.testing.assert_allclose(tested["p_value"], stats.p_value(tested["stat"]), rtol=1e-12)
    plain = tested["significant_unadjusted"].astype(bool)
    corrected = tested["significant"].astype(bool)
    assert plain.tolist() == (tested["stat"].abs() > 1.96).tolist()
    assert corrected.tolist() == plain_bh(list(tested["p_value"]))
    assert not (corrected & ~plain).any()
    movers = segments.movers(null_store, CUR, PREV, ["city", "team"], "nps", TH)
    assert list(movers.columns) == list(segments.MOVER_COLUMNS)
    assert set(movers["value"]) == set(tested.loc[corrected, "value"])
    assert movers.attrs == {"comparisons": 70, "significant_unadjusted": int(plain.sum())}


def test_null_stores_flag_noise_at_95_percent_but_rarely_after_correction(
    tmp_path: Path,
) -> None:
    """Ten seeded stores where nothing differs, 70 segments tested in each: at 95% each
    about 3.5 segments per store look like movers; Benjamini–Hochberg flags something in a
    store only about 5% of the time (all nulls: FDR = P(any flag) = q)."""
    plain, corrected, stores_flagged = 0, 0, 0
    for seed in range(20, 30):
        path = tmp_path / str(seed)
        store = connect(path)
        try:
            store.replace_table(schema.RESPONSES, null_frame(seed))
            got = segments.movers(store, CUR, PREV, ["city", "team"], "nps", TH, all_tested=True)
        finally:
            close(path)
        assert len(got) == 70
        plain += int(got["significant_unadjusted"].astype(bool).sum())
        flagged = int(got["significant"].astype(bool).sum())
        corrected += flagged
        stores_flagged += flagged > 0
    assert plain >= 20  # ≈ 0.05 · 70 · 10 = 35 expected
    assert stores_flagged <= 2 and corrected <= 3


def test_movers_find_a_real_change_among_the_noise(tmp_path: Path) -> None:
    frame = null_frame(seed=12)
    moved = (frame["city"] == "city07") & (frame["submitted_at"] >= "2025-02-01")
    frame.loc[moved, "nps"] = pd.Series(  # city07 turns into promoters in February
        np.random.default_rng(1).integers(8, 11, int(moved.sum())), dtype="Int8"
    ).to_numpy()
    store = connect(tmp_path)
    try:
        store.replace_table(schema.RESPONSES, frame)
        got = segments.movers(store, CUR, PREV, ["city", "team"], "nps", TH)
    finally:
        close(tmp_path)
    assert ("city", "city07") in set(zip(got["dimension"], got["value"], strict=True))
    row = got.iloc[0]
    assert (row["dimension"], row["value"]) == ("city", "city07") and row["change"] > 40
    assert bool(row["significant"]) and bool(row["significant_unadjusted"])
    assert row["comparisons"] == 70 and row["p_value"] < 0.05 / 70


def test_segment_vs_rest_counts_and_corrects_its_segments(null_store: Store) -> None:
    table = segments.segment_vs_rest(null_store, CUR, "city", "nps", TH)
    assert list(table.columns) == list(segments.RESULT_COLUMNS)
    assert len(table) == CITIES and (table["comparisons"] == CITIES).all()
    np.testing.assert_allclose(table["p_value"], stats.p_value(table["stat"]), rtol=1e-12)
    plain = table["significant_unadjusted"].astype(bool)
    assert plain.tolist() == (table["stat"].abs() > 1.96).tolist()
    assert table["significant"].astype(bool).tolist() == plain_bh(list(table["p_value"]))
    # withholding two rows takes them out of the correction: 38 comparisons left
    held = segments.withhold_segments(table, {"city00", "city01"})
    assert (held["comparisons"] == CITIES - 2).all()
    rows = held["segment"].isin({"city00", "city01"})
    assert held.loc[rows, "p_value"].isna().all() and held.loc[rows, "significant"].isna().all()
    assert held.loc[rows, "significant_unadjusted"].isna().all()
    kept = held.loc[~rows]
    assert kept["significant"].astype(bool).tolist() == plain_bh(list(kept["p_value"]))


def test_untested_segments_are_not_comparisons(null_store: Store) -> None:
    th = Thresholds(min_n=30, low_base=100_000)  # nothing has enough answers to be tested
    table = segments.segment_vs_rest(null_store, CUR, "city", "nps", th)
    assert table["significant"].isna().all() and table["p_value"].isna().all()
    assert (table["comparisons"] == 0).all()


# --- the wording --------------------------------------------------------------------------


def test_wording_says_the_correction_and_the_number_of_comparisons() -> None:
    assert fmt.corrected(17) == (
        "after correcting for 17 comparisons (Benjamini–Hochberg, 5% FDR)"
    )
    assert fmt.corrected(1) == "after correcting for 1 comparison (Benjamini–Hochberg, 5% FDR)"
    assert fmt.significance(True, comparisons=1_200) == (
        "significant after correcting for 1,200 comparisons (Benjamini–Hochberg, 5% FDR)"
    )
    assert fmt.significance(False, comparisons=np.int64(3)) == (
        "not significant after correcting for 3 comparisons (Benjamini–Hochberg, 5% FDR)"
    )
    # a single test (a KPI tile's change) keeps its own wording; untested stays untested
    assert fmt.significance(True) == "significant"
    assert fmt.significance(pd.NA, "low base", 12) == "not tested (low base)"


def test_mover_bars_say_the_correction() -> None:
    frame = pd.DataFrame(
        {
            "dimension": ["region"],
            "value": ["Oslo"],
            "now": [40.0],
            "prev": [27.7],
            "change": [12.3],
            "n_now": [1500],
            "n_prev": [1480],
            "stat": [6.1],
            "comparisons": [23],
        }
    )
    hover = charts.movers_figure(frame, "nps").data[0].customdata[0][0]
    assert hover.endswith(
        "change +12.3 pts · significant after correcting for 23 comparisons "
        "(Benjamini–Hochberg, 5% FDR)"
    )


def test_theme_outcome_says_the_correction() -> None:
    row = pd.Series(
        {"significant": True, "suppressed": False, "low_base": False, "hidden": False,
         "comparisons": 9}
    )  # fmt: skip
    assert charts.theme_significance(row) == (
        "significant after correcting for 9 comparisons (Benjamini–Hochberg, 5% FDR)"
    )
    assert charts.theme_significance(pd.Series({**row, "significant": False})) == (
        "not significant after correcting for 9 comparisons (Benjamini–Hochberg, 5% FDR)"
    )
