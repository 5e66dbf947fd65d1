"""Key driver analysis (cxdata.drivers): the Shapley split of R², its bootstrap, the
store path on the airline-review layout and the demo, and the `drivers` CLI."""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxdata import drivers, schema
from cxdata.cli import main
from cxdata.demo import demo_responses
from cxdata.filters import Filters
from cxdata.importing import import_file
from cxdata.store import Store, close, connect
from cxdata.voc.persist import compute_themes

sys.path.insert(0, str(Path(__file__).parent))
from airline_ratings import airline_ratings

SIM_N = 3000


def simulated(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """y = 0.6·x1 + 0.3·x2 + 0·x3 + noise; x1 and x2 correlated, x3 independent (a null
    driver correlated with real ones rightly gets a share of their R² under LMG)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(SIM_N, 3))
    x[:, 1] += 0.3 * x[:, 0]
    y = 0.6 * x[:, 0] + 0.3 * x[:, 1] + rng.normal(size=SIM_N)
    return x, y


def by_driver(result: drivers.Drivers) -> pd.DataFrame:
    return result.drivers.set_index("driver")


def test_importances_sum_to_r2_and_match_least_squares() -> None:
    x, y = simulated()
    rng = np.random.default_rng(3)
    x5 = np.column_stack([x, rng.integers(1, 6, SIM_N), rng.integers(0, 2, SIM_N)])
    y5 = y + 0.2 * x5[:, 3]
    result = drivers.analyse(x5, y5, list("abcde"), bootstrap=0)
    assert result.method == drivers.SHAPLEY
    assert result.drivers["importance"].sum() == pytest.approx(result.r2, abs=1e-9)
    design = np.column_stack([np.ones(SIM_N), x5])
    resid = y5 - design @ np.linalg.lstsq(design, y5, rcond=None)[0]
    r2_ls = 1 - resid @ resid / ((y5 - y5.mean()) @ (y5 - y5.mean()))
    assert result.r2 == pytest.approx(r2_ls, abs=1e-9)
    # beyond EXACT_MAX drivers: relative weights, also summing to R²
    wide = np.column_stack([x5, rng.normal(size=(SIM_N, drivers.EXACT_MAX))])
    many = drivers.analyse(wide, y5, [f"v{i}" for i in range(wide.shape[1])], bootstrap=0)
    assert many.method == drivers.RELATIVE_WEIGHTS
    assert many.drivers["importance"].sum() == pytest.approx(many.r2, abs=1e-9)
    r = np.corrcoef(np.column_stack([wide, y5]).T)
    assert many.r2 == pytest.approx(float(drivers.r_squared(r)), abs=1e-9)


def test_simulated_ranking_recovered_and_null_driver_ci_covers_zero() -> None:
    x, y = simulated()
    result = drivers.analyse(x, y, ["x1", "x2", "x3"], bootstrap=200, seed=1)
    assert list(result.drivers["driver"]) == ["x1", "x2", "x3"]
    rows = by_driver(result)
    assert rows.loc["x1", "importance"] > 0.15
    # x3 has no effect: its CI reaches down to 0 (an R² share is never below 0)
    assert rows.loc["x3", "importance"] < 2e-3
    assert 0 <= rows.loc["x3", "ci_low"] < 1e-4 < rows.loc["x3", "ci_high"]
    assert rows.loc["x1", "ci_low"] > rows.loc["x2", "ci_high"]  # x1 clearly first
    assert rows.loc["x1", "top3_share"] == 1.0  # only 3 drivers: all always top-3
    assert result.n == SIM_N and result.bootstrap == 200 and not result.sampled
    # same seed, same intervals; another seed, other ones
    again = drivers.analyse(x, y, ["x1", "x2", "x3"], bootstrap=200, seed=1)
    pd.testing.assert_frame_equal(again.drivers, result.drivers)
    other = drivers.analyse(x, y, ["x1", "x2", "x3"], bootstrap=200, seed=2)
    assert other.drivers["ci_low"].iloc[0] != result.drivers["ci_low"].iloc[0]


def test_top3_share_is_rank_stability() -> None:
    x, y = simulated()
    rng = np.random.default_rng(5)
    noise = rng.normal(size=(SIM_N, 2))
    result = drivers.analyse(np.column_stack([x, noise]), y + 0.05 * noise[:, 0],
                             ["x1", "x2", "x3", "n1", "n2"], bootstrap=200, seed=1)
    rows = by_driver(result)
    assert rows.loc["x1", "top3_share"] == 1.0 and rows.loc["x2", "top3_share"] == 1.0
    # the third place is contested between the null and weak drivers
    third = rows.loc[["x3", "n1", "n2"], "top3_share"]
    assert third.sum() == pytest.approx(1.0)
    assert third.max() < 1.0


def orthogonal(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Drivers exactly uncorrelated in the sample (centred, orthogonalised)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(SIM_N, 3))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    x = q * math.sqrt(SIM_N)
    y = 0.6 * x[:, 0] + 0.3 * x[:, 1] + rng.normal(size=SIM_N)
    return x, y


def test_duplicating_a_driver_splits_its_share_equally() -> None:
    x, y = orthogonal()
    once = by_driver(drivers.analyse(x, y, ["x1", "x2", "x3"], bootstrap=0))
    twice = by_driver(drivers.analyse(np.column_stack([x[:, 0], x]), y,
                                      ["x1b", "x1", "x2", "x3"], bootstrap=0))
    half = once.loc["x1", "importance"] / 2
    assert twice.loc["x1", "importance"] == pytest.approx(half, abs=1e-6)
    assert twice.loc["x1b", "importance"] == pytest.approx(half, abs=1e-6)
    assert twice.loc["x2", "importance"] == pytest.approx(once.loc["x2", "importance"], abs=1e-6)
    # correlated drivers: the copies still get exactly equal shares
    xc, yc = simulated()
    dup = by_driver(drivers.analyse(np.column_stack([xc, xc[:, 1]]), yc,
                                    ["x1", "x2", "x3", "x2b"], bootstrap=0))
    assert dup.loc["x2", "importance"] == pytest.approx(dup.loc["x2b", "importance"], abs=1e-9)


def test_driver_order_does_not_change_results() -> None:
    x, y = simulated()
    names = ["x1", "x2", "x3"]
    base = by_driver(drivers.analyse(x, y, names, bootstrap=100, seed=4))
    for perm in ([2, 0, 1], [1, 2, 0]):
        other = by_driver(drivers.analyse(x[:, perm], y, [names[i] for i in perm],
                                          bootstrap=100, seed=4))
        cols = ["importance", "ci_low", "ci_high", "top3_share"]
        np.testing.assert_allclose(other.loc[names, cols].to_numpy(float),
                                   base.loc[names, cols].to_numpy(float), atol=1e-9)


def lmg_brute_force(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LMG by definition: R² gains averaged over all orders, each R² by least squares."""
    n, k = x.shape
    tss = (y - y.mean()) @ (y - y.mean())

    def r2(cols: tuple[int, ...]) -> float:
        design = np.column_stack([np.ones(n), x[:, list(cols)]])
        resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        return 1 - resid @ resid / tss

    out = np.zeros(k)
    perms = list(itertools.permutations(range(k)))
    for order in perms:
        for i, j in enumerate(order):
            out[j] += r2(tuple(sorted(order[: i + 1]))) - r2(tuple(sorted(order[:i])))
    return out / len(perms)


def test_shapley_matches_brute_force_lmg_on_four_drivers() -> None:
    rng = np.random.default_rng(21)
    x = rng.normal(size=(800, 4)) @ rng.normal(size=(4, 4))  # correlated drivers
    y = x @ np.array([0.5, -0.2, 0.1, 0.0]) + rng.normal(size=800)
    got = by_driver(drivers.analyse(x, y, ["a", "b", "c", "d"], bootstrap=0))
    want = lmg_brute_force(x, y)
    np.testing.assert_allclose(got.loc[["a", "b", "c", "d"], "importance"], want, atol=1e-9)


def test_missing_values_are_complete_cases_and_min_n_refuses() -> None:
    x, y = simulated()
    x = x.copy()
    x[:100, 2] = np.nan
    result = drivers.analyse(x, y, ["x1", "x2", "x3"], bootstrap=0)
    assert result.n == SIM_N - 100
    assert list(result.drivers.sort_values("driver")["n"]) == [SIM_N, SIM_N, SIM_N - 100]
    with pytest.raises(drivers.NotEnoughAnswers, match=r"not enough answers.*149.*150"):
        drivers.analyse(x[200:349], y[200:349], ["x1", "x2", "x3"], bootstrap=0)
    small = drivers.analyse(x[200:300], y[200:300], ["x1", "x2", "x3"], bootstrap=0, min_n=50)
    assert small.n == 100


# --- on a store --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """1,500 airline reviews in the BA layout, imported with the suggested mapping."""
    folder = tmp_path_factory.mktemp("airline")
    csv = folder / "reviews.csv"
    airline_ratings(1500, seed=11).to_csv(csv, index=False)
    store = connect(folder / "store")
    import_file(store, csv)
    yield store
    close(folder / "store")


def test_airline_layout_overall_rating_driven_by_sub_ratings(airline: Store) -> None:
    # the importer keeps the overall 1–10 as the rating "Rating" and recommended yes/no as
    # "Recommended" (0–1); there is no NPS
    with pytest.raises(drivers.NotEnoughAnswers):
        drivers.key_drivers(airline, Filters(), "nps", bootstrap=0)
    result = drivers.key_drivers(airline, Filters(), "Rating", exclude=["Recommended"],
                                 bootstrap=200, seed=3)
    frame = pd.read_csv(Path(airline.location).parent / "reviews.csv")
    cols = ["seat_comfort", "cabin_staff_service", "food_beverages", "ground_service",
            "value_for_money", "inflight_entertainment", "rating"]
    complete = frame[cols].dropna()
    assert result.n == len(complete)  # wifi (rated by 40%) left out, the rest complete cases
    assert ("Recommended", "excluded") in result.skipped
    assert any(name == "Wifi connectivity" for name, _ in result.skipped)
    assert result.method == drivers.SHAPLEY
    assert 0.3 < result.r2 < 0.9
    # R² equals plain least squares on the complete cases
    design = np.column_stack([np.ones(len(complete)), complete[cols[:-1]].to_numpy(float)])
    yv = complete["rating"].to_numpy(float)
    resid = yv - design @ np.linalg.lstsq(design, yv, rcond=None)[0]
    assert result.r2 == pytest.approx(1 - resid @ resid / ((yv - yv.mean()) ** 2).sum(),
                                      abs=1e-9)
    rows = by_driver(result)
    assert set(rows["kind"]) == {"rating"}
    assert (rows["ci_low"] > 0).all()  # every sub-rating shares the reviewer's mood
    seat = complete["seat_comfort"]
    assert rows.loc["Seat comfort", "performance_top2_pct"] == pytest.approx(
        100 * (seat >= 4).mean())
    assert rows.loc["Seat comfort", "n"] == frame["seat_comfort"].notna().sum()
    # sampled bootstrap: same point estimates, says so
    sampled = drivers.key_drivers(airline, Filters(), "Rating", exclude=["Recommended"],
                                  bootstrap=50, seed=3, bootstrap_rows=300)
    assert sampled.sampled and sampled.bootstrap_rows == 300
    np.testing.assert_allclose(by_driver(sampled).loc[rows.index, "importance"],
                               rows["importance"], atol=1e-9)
    np.testing.assert_allclose(by_driver(sampled).loc[rows.index, "performance_top2_pct"],
                               rows["performance_top2_pct"], atol=1e-9)


def test_unknown_outcome_names_the_allowed(airline: Store) -> None:
    with pytest.raises(drivers.UnknownName, match="Seat comfort"):
        drivers.key_drivers(airline, Filters(), "happiness")


def test_cli_drivers_json(airline: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data-dir", str(airline.location), "drivers", "--outcome", "Rating",
                 "--exclude", "Recommended", "--bootstrap", "50", "--seed", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "shapley exact" and out["bootstrap"] == 50
    assert sum(d["importance"] for d in out["drivers"]) == pytest.approx(out["r2"], abs=1e-5)
    assert {d["kind"] for d in out["drivers"]} == {"rating"}
    code = main(["--data-dir", str(airline.location), "drivers", "--outcome", "Rating",
                 "--min-n", "5000", "--bootstrap", "0"])
    assert code == 1
    assert "not enough answers" in capsys.readouterr().err


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("demo")
    store = connect(folder)
    store.replace_table(schema.RESPONSES, demo_responses(rows=1500, seed=5))
    compute_themes(store)
    yield store
    close(folder)


def test_demo_theme_drivers_of_nps(demo: Store) -> None:
    result = drivers.key_drivers(demo, Filters(), "nps", bootstrap=100, seed=1)
    rows = result.drivers
    assert len(rows) >= 3 and set(rows["kind"]) == {"theme"}
    assert result.drivers["importance"].sum() == pytest.approx(result.r2, abs=1e-9)
    assert 0.02 < result.r2 < 0.8
    assert result.n >= drivers.DEFAULT_MIN_N
    # a theme's performance: the share of the analysed answers mentioning it
    assert rows["performance"].eq("% of answers mentioning the theme").all()
    assert ((rows["performance_top2_pct"] > 0) & (rows["performance_top2_pct"] < 100)).all()
    assert result.as_dict()["drivers"][0]["driver"] == rows["driver"].iloc[0]
    csat = drivers.key_drivers(demo, Filters(), "csat", bootstrap=0)
    assert csat.outcome == "csat" and csat.n >= drivers.DEFAULT_MIN_N


def test_demo_themes_only_path_equals_the_general_path(
    demo: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the one-query path for theme drivers gives exactly what the four-query path gives
    fast = drivers.key_drivers(demo, Filters(), "nps", bootstrap=120, seed=4,
                               exclude=["price"])
    calls: list[int] = []
    real = drivers._themes_only
    monkeypatch.setattr(drivers, "_themes_only", lambda *a, **k: calls.append(1))
    general = drivers.key_drivers(demo, Filters(), "nps", bootstrap=120, seed=4,
                                  exclude=["price"])
    assert calls == [1]  # the general path really ran
    pd.testing.assert_frame_equal(fast.drivers, general.drivers)
    assert (fast.n, fast.r2, fast.method, fast.skipped, fast.bootstrap_rows) == (
        general.n, general.r2, general.method, general.skipped, general.bootstrap_rows)
    assert ("price", "excluded") in fast.skipped
    # more patterns than bootstrap_rows: the fast path steps aside
    assert real(demo, drivers.responses(demo, Filters()).select(
        "response_id", y=drivers.ibis.literal(1.0)), "nps", (), 150, "taxonomy", 0, 0, 1) is None


@pytest.mark.parametrize("source", ["taxonomy", "auto"])
def test_stored_theme_masks_give_what_the_theme_rows_give(
    demo: Store, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # the stored masks (one join) against the masks computed from comment_themes, also
    # through a row restriction (the masks reach it via their responses)
    kind = str(demo.table(schema.RESPONSES).customer_type.mode().execute())
    real = drivers._stored_mask_counts
    for store in (demo, demo.restricted({"customer_type": (kind,)})):
        calls: list[int] = []
        monkeypatch.setattr(drivers, "_stored_mask_counts",
                            lambda *a, calls=calls: calls.append(1) or real(*a))
        stored = drivers.key_drivers(store, Filters(), "nps", bootstrap=50, seed=2,
                                     theme_source=source, min_n=20)
        monkeypatch.setattr(drivers, "_stored_mask_counts", lambda *a: None)
        computed = drivers.key_drivers(store, Filters(), "nps", bootstrap=50, seed=2,
                                       theme_source=source, min_n=20)
        assert calls == [1] and real(store, drivers.responses(store, Filters()).select(
            "response_id", y=store.table(schema.RESPONSES).nps), source, 10**6) is not None
        pd.testing.assert_frame_equal(stored.drivers, computed.drivers)
        assert (stored.n, stored.r2, stored.skipped) == (computed.n, computed.r2,
                                                         computed.skipped)


def test_batched_subset_r2_matches_one_at_a_time_sweep() -> None:
    # the sweep by definition, one subset after another, against the batched blocks
    rng = np.random.default_rng(3)
    k = 7
    x = rng.normal(size=(400, k)) @ rng.normal(size=(k, k))
    x[:, 5] = x[:, 1] - x[:, 2]  # a linear combination: zero pivots
    y = x @ rng.normal(size=k) + rng.normal(size=400)
    z = np.column_stack([x, y])
    w = rng.multinomial(400, np.full(400, 1 / 400), size=drivers._BLOCK + 5).astype(float)
    r = drivers.correlation(*drivers._moments(z, w))
    got = drivers.subset_r2(r)
    assert got.shape == (drivers._BLOCK + 5, 1 << k)
    for b in (0, drivers._BLOCK + 4):
        for mask in (0b1, 0b1010110, 0b1111111, 0b0100110):
            s = [j for j in range(k) if mask >> j & 1]
            rs = r[b][np.ix_(s, s)]
            want = r[b][s, -1] @ np.linalg.pinv(rs, hermitian=True) @ r[b][s, -1]
            assert got[b, mask] == pytest.approx(want, abs=1e-9)
    assert np.all(got[:, 0] == 0)
    imp = drivers.shapley(r)
    np.testing.assert_allclose(imp.sum(axis=1), drivers.r_squared(r), atol=1e-9)
    assert np.isfinite(imp).all()
