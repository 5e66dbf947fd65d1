"""Key drivers on screen (issue 14, item 2): the importance × performance quadrant built
from a hand-made cxdata.drivers result (points, CI whiskers, the fix-first quadrant, escaped
labels), and the Touchpoints page's section in AppTest on a small demo store with themes
(the figure from the engine's numbers) and on one with too few answers (the message)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata import charts, drivers, schema
from cxdata.demo import demo_responses
from cxdata.filters import Filters
from cxdata.store import close, connect
from cxdata.voc.persist import compute_themes
from pages._shared import drivers_view

ROOT = Path(__file__).resolve().parents[1]


def hand_made() -> drivers.Drivers:
    """Four drivers, R² 0.5: two ratings and a theme placed, one rating without top-2-box."""
    frame = pd.DataFrame({
        "driver": ["seat", "<b>staff</b>", "late", "wifi"],
        "label": ["Seat comfort", "<b>Staff</b> & crew", "Late delivery", "Wifi"],
        "kind": ["rating", "rating", "theme", "rating"],
        "importance": [0.25, 0.15, 0.06, 0.04],
        "share": [0.5, 0.3, 0.12, 0.08],
        "ci_low": [0.20, 0.10, 0.02, 0.01],
        "ci_high": [0.30, 0.22, 0.09, 0.05],
        "top3_share": [1.0, 0.9, 0.7, 0.4],
        "performance_top2_pct": [30.0, 80.0, 12.0, np.nan],
        "performance": ["top-2-box %", "top-2-box %", "% of answers mentioning the theme",
                        "no top-2-box (scale unknown or under 4 points)"],
        "n": [500, 480, 400, 300],
    })  # fmt: skip
    return drivers.Drivers(
        outcome="nps", n=400, r2=0.5, drivers=frame, method=drivers.SHAPLEY, bootstrap=200,
        seed=0, bootstrap_rows=400, sampled=False, min_n=150,
    )  # fmt: skip


def test_quadrant_places_points_whiskers_and_fix_first() -> None:
    fig = charts.drivers_quadrant(hand_made())
    data = fig.to_plotly_json()["data"]
    ratings = next(t for t in data if t["name"] == "Touchpoint rating")
    # wifi has no top-2-box, and a theme's mention share is no performance: neither placed
    assert not [t for t in data if t["name"] == "Comment theme" and list(t.get("x", []))]
    assert list(ratings["x"]) == [30.0, 80.0]
    assert list(ratings["y"]) == pytest.approx([50.0, 30.0])  # share of R², %
    # whiskers are the CIs in % of R²: seat 40–60, staff 20–44
    assert list(ratings["error_y"]["arrayminus"]) == pytest.approx([10.0, 10.0])
    assert list(ratings["error_y"]["array"]) == pytest.approx([10.0, 14.0])
    # labels escaped (Plotly reads HTML)
    assert "<b>" not in "".join(ratings["text"]) and "&lt;b&gt;Staff" in ratings["text"][1]
    assert ratings["text"][0] == "Seat comfort"
    assert "<b>Staff" not in ratings["customdata"][1]
    hover = ratings["customdata"][0]
    assert "50.0% of R² (95% CI 40.0 – 60.0%)" in hover and "top 3 in 100%" in hover
    assert "performance 30.0%" in hover and "n = 500" in hover
    # quadrant lines at the median performance (55) and the mean importance (40 %)
    shapes = fig.to_plotly_json()["layout"]["shapes"]
    rect = next(s for s in shapes if s["type"] == "rect")
    lines = [s for s in shapes if s["type"] == "line"]
    assert rect["x1"] == pytest.approx(55.0) and rect["y0"] == pytest.approx(40.0)
    assert rect["y1"] > 60.0 and rect["x0"] <= 30.0  # reaches the top-left corner
    assert {s["x0"] for s in lines if s["x0"] == s["x1"]} == {55.0}
    assert [s["y0"] for s in lines if s["y0"] == s["y1"]] == pytest.approx([40.0])
    notes = [a["text"] for a in fig.to_plotly_json()["layout"]["annotations"]]
    assert any(charts.FIX_FIRST in t for t in notes)


def test_caption_names_what_is_left_out_escaped() -> None:
    r = hand_made()
    assert "Wifi" in drivers_view.left_out(r)
    assert "200 resamples" in drivers_view.method_note(r)
    themes = drivers_view.theme_table(r)  # themes: importance only, with their mention share
    assert themes["Theme"].tolist() == ["Late delivery"]
    assert themes["Importance (% of R²)"].tolist() == [12.0]
    assert themes["95% CI"].tolist() == ["4.0 – 18.0"]
    assert themes["Mentioned by (% of answers)"].tolist() == [12.0]


# --- the page -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """1,500 demo answers with their comments' themes computed."""
    folder = tmp_path_factory.mktemp("drivers_demo")
    store = connect(folder)
    store.replace_table(schema.RESPONSES, demo_responses(rows=1500, seed=5))
    compute_themes(store)
    yield folder
    close(folder)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """100 demo answers: fewer than the driver analysis needs."""
    folder = tmp_path_factory.mktemp("drivers_small")
    store = connect(folder)
    store.replace_table(schema.RESPONSES, demo_responses(rows=100, seed=5))
    yield folder
    close(folder)


def touchpoints(folder: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CX_DATA_DIR", str(folder))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update({"period": "all"})
    at.run()
    at.switch_page("pages/touchpoints.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def quadrant_specs(at: AppTest) -> list[dict]:
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return [s for s in specs if "Key drivers" in s["layout"].get("title", {}).get("text", "")]


def test_touchpoints_shows_the_key_drivers(demo_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The demo has comment themes but no touchpoint ratings: nothing to place on the
    # quadrant (a mention share is no performance), the themes ranked by importance.
    at = touchpoints(demo_dir, monkeypatch)
    assert "Key drivers" in [h.value for h in at.subheader]
    assert not quadrant_specs(at)
    assert any("ranked by importance only" in i.value for i in at.info)
    want = drivers.key_drivers(connect(demo_dir), Filters(), "nps",
                               bootstrap=drivers_view.UI_BOOTSTRAP)  # fmt: skip
    shown = next(d.value for d in at.dataframe if "Theme" in d.value.columns)
    expected = drivers_view.theme_table(want)
    assert len(shown) == len(expected) >= 3
    assert shown["Importance (% of R²)"].tolist() == expected["Importance (% of R²)"].tolist()
    assert any(f"R² = {want.r2:.2f}" in c.value and f"n = {want.n:,}" in c.value
               for c in at.caption)  # fmt: skip
    at.selectbox(key="touchpoints.drivers.outcome").set_value("csat").run()
    assert not at.exception
    assert any("drivers of CSAT" in c.value for c in at.caption)


def test_too_few_answers_says_so_instead_of_drawing(small_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    at = touchpoints(small_dir, monkeypatch)
    assert not quadrant_specs(at)
    infos = " ".join(i.value for i in at.info)
    assert "Not enough answers for a driver analysis of nps" in infos
    assert f"at least {drivers.DEFAULT_MIN_N} needed" in infos
