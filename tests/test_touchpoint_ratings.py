"""Touchpoint ratings (issue 12, item 11): cxdata.ratings against a plain pandas computation
on generated data (filters, the store's row restriction, scales never mixed, unknown and
short scales said, min_n and low base), the same on PostgreSQL, the figures, and the
Touchpoints page in AppTest on an imported airline-review-like export."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airline_ratings import airline_ratings
from conftest import random_responses
from pg_server import postgres_server, require_postgres
from streamlit.testing.v1 import AppTest

from cxdata import charts, fmt, ratings, schema
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.store import Store, connect

TH = Thresholds(min_n=10, low_base=30)
ROOT = Path(__file__).resolve().parents[1]
FILTERS = Filters.make(dt.date(2025, 3, 1), dt.date(2025, 12, 31), {"plan": ["Basic", "Plus"]})


def ratings_of(resp: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Long ratings rows: every response rates seat comfort on 1–5; half rate wifi on
    0–10; some rate wifi again on a scale the import did not store; a yes/no on 0–1; a few
    ratings of a response that is not stored (never counted)."""
    rng = np.random.default_rng(seed)
    rows = []
    for rid in resp["response_id"]:
        rows.append((rid, "seat comfort", float(rng.integers(1, 6)), "1-5"))
        if rng.random() < 0.5:
            rows.append((rid, "wifi", float(rng.integers(0, 11)), "0-10"))
        if rng.random() < 0.02:
            rows.append((rid, "wifi", float(rng.integers(1, 6)), ""))
        if rng.random() < 0.3:
            rows.append((rid, "recommended", float(rng.integers(0, 2)), "0-1"))
    rows += [("ORPHAN-1", "seat comfort", 1.0, "1-5"), ("ORPHAN-2", "seat comfort", 1.0, "1-5")]
    return pd.DataFrame(rows, columns=["response_id", "touchpoint", "rating", "scale"])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    resp = random_responses(4_000, seed=9)
    return resp, ratings_of(resp)


@pytest.fixture(scope="module")
def rated_store(
    tmp_path_factory: pytest.TempPathFactory, data: tuple[pd.DataFrame, pd.DataFrame]
) -> Store:
    s = connect(tmp_path_factory.mktemp("ratings"))
    s.replace_table(schema.RESPONSES, data[0])
    s.replace_table(schema.TOUCHPOINT_RATINGS, data[1])
    return s


def reference(
    resp: pd.DataFrame, rat: pd.DataFrame, by: str | None, th: Thresholds = TH
) -> pd.DataFrame:
    """The same numbers in plain pandas: inner join on response id, group, mean / sample
    SD / mean ± 1.96·s/√n, top-2-box = ratings ≥ high − 1 on 4+ point scales with a Wilson
    interval, values blanked under min_n."""
    keys = ["touchpoint", "scale", *([by] if by else [])]
    joined = rat.merge(resp, on="response_id", suffixes=("", "_resp"))
    if by:
        joined[by] = joined[by].fillna("(not set)")
    rows = []
    for key, g in joined.groupby(keys, dropna=False):
        x = g["rating"].to_numpy()
        n = len(x)
        scale = key[1]
        low, high = (float(v) for v in scale.split("-")) if scale else (np.nan, np.nan)
        defined = bool(scale) and high - low + 1 >= 4
        k = int((x >= high - 1).sum()) if defined else 0
        p, z = k / n, 1.96
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        sd = x.std(ddof=1) if n > 1 else 0.0
        small = n < th.min_n

        def blank(v: float, small: bool = small) -> float:
            return np.nan if small else v

        rows.append({
            **dict(zip(keys, key, strict=True)), "n": n,
            "mean": blank(x.mean()), "mean_ci_low": blank(x.mean() - z * sd / np.sqrt(n)),
            "top2_pct": blank(100 * p) if defined else np.nan,
            "top2_ci_low": blank(100 * (centre - half)) if defined else np.nan,
            "top2_ci_high": blank(100 * (centre + half)) if defined else np.nan,
            "mean_pos": blank(100 * (x.mean() - low) / (high - low)),
            "suppressed": small, "low_base": not small and n < th.low_base,
        })  # fmt: skip
    out = pd.DataFrame(rows).rename(columns={"touchpoint": ratings.RATED})
    return out.sort_values([ratings.RATED, "scale", *([by] if by else [])], ignore_index=True)


CHECKED = ["n", "mean", "mean_ci_low", "top2_pct", "top2_ci_low", "top2_ci_high", "mean_pos",
           "suppressed", "low_base"]  # fmt: skip


def assert_matches(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    assert got[keys].astype(str).values.tolist() == want[keys].astype(str).values.tolist()
    pd.testing.assert_frame_equal(
        got[CHECKED].reset_index(drop=True), want[CHECKED], check_dtype=False, rtol=1e-9
    )


@pytest.mark.parametrize("by", [None, "region", "journey_stage"])
def test_ratings_match_pandas_over_all_answers(rated_store: Store, data, by) -> None:  # type: ignore[no-untyped-def]
    got = ratings.touchpoint_ratings(rated_store, Filters(), by, TH)
    want = reference(*data, by)
    assert_matches(got, want, [ratings.RATED, "scale", *([by] if by else [])])
    # orphans (ratings of no stored response) never count: n is the joined ratings'
    assert got.loc[got[ratings.RATED] == "seat comfort", "n"].sum() == len(data[0])


def test_ratings_honour_filters_and_the_row_restriction(rated_store: Store, data) -> None:  # type: ignore[no-untyped-def]
    resp, rat = data
    inside = resp[
        (resp["submitted_at"] >= "2025-03-01") & (resp["submitted_at"] < "2026-01-01")
        & resp["plan"].isin(["Basic", "Plus"]) & (resp["region"] == "Celje")
    ]  # fmt: skip
    restricted = rated_store.restricted({"region": ("Celje",)})
    got = ratings.touchpoint_ratings(restricted, FILTERS, "channel", TH)
    assert_matches(got, reference(inside, rat, "channel"), [ratings.RATED, "scale", "channel"])
    assert got["n"].sum() == len(rat.merge(inside, on="response_id"))


def test_scales_are_never_mixed_and_unknown_or_short_scales_are_said(rated_store: Store) -> None:
    got = ratings.touchpoint_ratings(rated_store, Filters(), None, TH).set_index(
        [ratings.RATED, "scale"]
    )
    assert list(got.index) == [("recommended", "0-1"), ("seat comfort", "1-5"), ("wifi", ""),
                               ("wifi", "0-10")]  # fmt: skip
    unknown = got.loc[("wifi", "")]
    assert not unknown["scale_known"] and not unknown["top2_defined"]
    assert np.isnan(unknown["top2_pct"]) and np.isnan(unknown["mean_pos"])
    assert unknown["mean"] > 0  # the mean is given as it is, with its scale said unknown
    yes_no = got.loc[("recommended", "0-1")]
    assert yes_no["scale_known"] and not yes_no["top2_defined"] and np.isnan(yes_no["top2_pct"])
    assert fmt.rating_hover(unknown.to_dict() | {"scale": ""}).endswith(
        f"no top-2-box: the import stored no scale · n = {int(unknown['n']):,} · low base"
    ) or "no top-2-box: the import stored no scale" in fmt.rating_hover(
        unknown.to_dict() | {"scale": ""}
    )
    assert "no top-2-box on a 0–1 scale" in fmt.rating_hover(yes_no.to_dict() | {"scale": "0-1"})


def test_small_groups_are_suppressed_and_flagged(rated_store: Store, data) -> None:  # type: ignore[no-untyped-def]
    th = Thresholds(min_n=100, low_base=400)
    got = ratings.touchpoint_ratings(rated_store, Filters(), "region", th)
    want = reference(*data, "region", th)
    assert_matches(got, want, [ratings.RATED, "scale", "region"])
    small = got[got["suppressed"]]
    assert len(small) > 0 and small[["mean", "top2_pct", "mean_ci_low"]].isna().all().all()
    assert (small["n"] < 100).all() and (got.loc[got["low_base"], "n"] < 400).all()
    r = small.iloc[0]
    assert fmt.rating_hover(r) == f"n too small (n={int(r['n'])})"


def test_parse_scale() -> None:
    assert ratings.parse_scale("1-5") == (1.0, 5.0)
    assert ratings.parse_scale("0–10") == (0.0, 10.0)
    assert ratings.parse_scale("") is None and ratings.parse_scale(None) is None
    assert ratings.parse_scale("5-1") is None and ratings.parse_scale("stars") is None
    assert ratings.scale_label("1-10") == "1–10" and ratings.scale_label("") == "scale unknown"


def test_no_ratings_dataset_is_an_empty_frame(store: Store) -> None:
    got = ratings.touchpoint_ratings(store, Filters(), "region", TH)
    assert got.empty and {ratings.RATED, "n", "top2_pct", "region"} <= set(got.columns)


# --- PostgreSQL parity ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_rated(data: tuple[pd.DataFrame, pd.DataFrame]) -> Iterator[Store]:
    require_postgres()
    with postgres_server() as url:
        s = connect(url=url)
        s.replace_table(schema.RESPONSES, data[0])
        s.replace_table(schema.TOUCHPOINT_RATINGS, data[1])
        yield s
        s.backend.disconnect()


@pytest.mark.postgres
@pytest.mark.parametrize(("filters", "by"), [(Filters(), None), (FILTERS, "region")])
def test_postgres_matches_duckdb(rated_store: Store, pg_rated: Store, filters, by) -> None:  # type: ignore[no-untyped-def]
    duck = ratings.touchpoint_ratings(rated_store, filters, by, TH)
    pg = ratings.touchpoint_ratings(pg_rated, filters, by, TH)
    assert len(duck) > 0
    pd.testing.assert_frame_equal(duck, pg, check_dtype=False, rtol=1e-9, atol=1e-9)


# --- figures -------------------------------------------------------------------------------


def test_ratings_heatmap_places_every_scale_on_0_to_100(rated_store: Store) -> None:
    frame = ratings.touchpoint_ratings(rated_store, Filters(), "plan", TH)
    fig = charts.ratings_heatmap_figure(frame, "plan", "top2")
    heat, cells = fig.data[0], fig.data[-1]
    # the unknown-scale wifi row and the 0–1 row cannot have a top-2-box: not drawn
    assert list(heat.y) == ["seat comfort (1–5)", "wifi (0–10)"]
    assert (heat.zmin, heat.zmax) == (0.0, 100.0)  # the full range, neutral = 50%
    want = frame.set_index([ratings.RATED, "plan"])
    z = np.asarray(heat.z, dtype=float)
    for i, (tp, _) in enumerate([("seat comfort", "1-5"), ("wifi", "0-10")]):
        for j, plan in enumerate(heat.x):
            assert z[i, j] == pytest.approx(want.loc[(tp, plan), "top2_pct"].max())
    assert heat.text[0][0].endswith("%")
    assert cells.text[0].startswith("<b>seat comfort (1–5)</b> × ")
    assert "top-2-box" in cells.text[0] and "n = " in cells.text[0]
    by_mean = charts.ratings_heatmap_figure(frame, "plan", "mean").data[0]
    assert list(by_mean.y)[-1] == "recommended (0–1)"  # a mean on a known scale is placed
    assert "wifi (scale unknown)" not in list(by_mean.y)


def test_ratings_journey_one_line_per_rated_touchpoint_in_stage_order(rated_store: Store) -> None:
    frame = ratings.touchpoint_ratings(rated_store, Filters(), "journey_stage", TH)
    fig = charts.ratings_journey_figure(frame, "mean")
    assert [t.name for t in fig.data] == ["seat comfort (1–5)", "wifi (0–10)",
                                          "recommended (0–1)"]  # fmt: skip
    seat = fig.data[0]
    assert list(seat.x) == ["research", "purchase", "delivery", "support"]  # journey order
    want = frame[frame[ratings.RATED] == "seat comfort"].set_index("journey_stage")
    assert list(seat.y) == pytest.approx([want.loc[s, "mean_pos"] for s in seat.x])
    assert fig.layout.yaxis.range == (0, 100)


# --- the page ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An invented airline-review export imported with the suggested mapping untouched."""
    root = tmp_path_factory.mktemp("airline")
    csv = root / "reviews.csv"
    airline_ratings(600, stages=False).to_csv(csv, index=False)
    subprocess.run(
        [sys.executable, "-m", "cxdata", "--data-dir", str(root / "data"), "import", str(csv)],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return root / "data"


def test_touchpoints_page_shows_the_ratings(airline_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CX_DATA_DIR", str(airline_dir))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update({"period": "all"})
    at.run()
    at.switch_page("pages/touchpoints.py").run()
    at.selectbox(key="touchpoints.rating_cols").set_value("seat_type").run()
    assert not at.exception and not at.error
    frame = airline_ratings(600, stages=False)
    table = at.dataframe[0].value.set_index("Rated touchpoint")
    seat = frame["seat_comfort"].dropna().astype(float)
    assert table.loc["Seat comfort", "n"] == len(seat)
    assert table.loc["Seat comfort", "Mean (95% CI)"].startswith(f"{seat.mean():.2f} (")
    top2 = 100 * (seat >= 4).mean()
    assert table.loc["Seat comfort", "Top-2-box (95% CI)"].startswith(f"{top2:.1f}% (")
    assert table.loc["Recommended", "Top-2-box (95% CI)"] == "–"
    assert table.loc["Recommended", "Note"] == "no top-2-box on this scale"
    texts = " ".join(c.value for c in at.caption)
    assert "The answers have no journey stage" in texts
    assert "Not drawn: Recommended" in texts and "0–1" in texts
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    economy = frame.loc[frame["seat_type"] == "Economy Class", "seat_comfort"].dropna()
    col = list(heat["x"]).index("Economy Class")
    row = list(heat["y"]).index("Seat comfort (1–5)")
    z = heat["z"]  # Plotly sends numeric arrays as base64 typed arrays
    cells = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(
        [int(k) for k in str(z["shape"]).split(",")]
    )
    assert cells[row][col] == pytest.approx(100 * (economy >= 4).mean())
    assert "The answers name no touchpoint" in " ".join(i.value for i in at.info)
