"""The metric registry (cxdata.metrics): one declaration per metric, read everywhere.

Each metric is checked against the plain pandas reference on random data on both count
paths (grouped aggregates and the score-key decode); each family's comparison against an
independently written test; adding a metric is shown to need nothing but its declaration.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference as ref
from streamlit.testing.v1 import AppTest

from cxdata import demo, metrics, queries, schema, segments
from cxdata import store as stores
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.metrics import METRICS, Measure, Metric, Share
from cxdata.scores import execute_counts, grouped_counts, score_frame
from cxdata.store import Store, connect

ROOT = Path(__file__).resolve().parents[1]

TH = Thresholds(min_n=30, low_base=100)


def close(a: float | None, b: float, tol: float = 1e-6) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def test_every_metric_declares_what_the_screen_says() -> None:
    for name, m in METRICS.items():
        assert m.name == name
        assert m.label and m.short_label and m.help and m.definition, name
        assert m.unit in {"points", "%", ""} and m.change_unit in {"pts", "pp", ""}, name
        assert m.base.name in metrics.BASES, name
        assert m.family.test, name
    assert metrics.metric_def("csat_top_box").family.test == "two-proportion z-test"
    with pytest.raises(UnknownName, match=r"unknown metric 'happiness'; allowed: .*csat_top_box"):
        metrics.metric_def("happiness")


def test_csat_top_box_matches_the_reference(store: Store, reference_frame: pd.DataFrame) -> None:
    want = ref.csat_top_box(reference_frame)
    got = queries.kpis(store, Filters()).score("csat_top_box")  # the score-key path
    assert got.n == want["n"] and got.n > 0
    for key in ("value", "ci_low", "ci_high"):  # a Score keeps 4 decimals
        assert close(getattr(got, key), want[key], 1e-4), key
    frame = queries.breakdown(store, Filters(), ["region"], metrics=["csat_top_box"])
    labelled = reference_frame.assign(region=reference_frame["region"].fillna(NOT_SET))
    for region, rows in labelled.groupby("region"):
        row = frame[frame["region"] == region].iloc[0]
        want = ref.csat_top_box(rows)
        assert row["csat_n"] == want["n"]
        if want["n"] >= TH.min_n:
            assert close(row["csat_top_box"], want["value"]), region
            assert close(row["csat_top_box_ci_low"], want["ci_low"]), region


def test_both_count_paths_give_every_metric_alike(store: Store) -> None:
    f = Filters.make(None, None, {"plan": ["Basic"]})
    by_keys = queries.kpis(store, f, TH)
    t = queries.responses(store, f)
    grouped = score_frame(execute_counts(grouped_counts(t)), TH).iloc[0]
    for name, m in METRICS.items():
        score = by_keys.score(name)
        assert score.n == grouped[m.n], name
        for attr, col in zip(("value", "ci_low", "ci_high"), m.columns, strict=True):
            assert close(getattr(score, attr), float(grouped[col]), 1e-4), (name, attr)


def _groups(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    basic = frame["plan"] == "Basic"
    return frame[basic], frame[~basic]


def test_each_family_compares_like_the_plain_tests(
    store: Store, reference_frame: pd.DataFrame
) -> None:
    a_rows, b_rows = _groups(reference_frame)
    counts = queries.breakdown(store, Filters(), ["plan"])
    a = counts[counts["plan"] == "Basic"].reset_index(drop=True)
    b_counts = counts[counts["plan"] != "Basic"].drop(columns="plan").sum(numeric_only=True)
    b = pd.DataFrame([b_counts])
    csat_a, csat_b = a_rows["csat"].dropna(), b_rows["csat"].dropna()
    want = {
        "nps": ref.nps_t(a_rows, b_rows),
        "csat_top_box": ref.two_proportion_z(
            int((csat_a == 5).sum()), len(csat_a), int((csat_b == 5).sum()), len(csat_b)
        ),
        "ces": ref.welch_t(a_rows["ces"], b_rows["ces"]),
    }
    for name, stat in want.items():
        got = metrics.compare(name, a, b, TH)
        assert close(float(got.stat[0]), stat, 1e-9), name
        assert bool(got.significant[0]) == (abs(stat) > 1.96), name
        value_a = metrics.score(name, a)[0][0]
        value_b = metrics.score(name, b)[0][0]
        assert close(float(got.difference[0]), value_a - value_b, 1e-9), name


def test_no_test_under_the_low_base() -> None:
    a = {"csat_n": [99, 500], "csat_fives": [50, 250]}
    b = {"csat_n": [500, 500], "csat_fives": [100, 100]}
    got = metrics.compare("csat_top_box", a, b, TH)
    assert got.significant[0] is pd.NA and math.isnan(got.stat[0])
    assert bool(got.significant[1]) and got.stat[1] > 1.96
    assert np.allclose(got.difference, [50.0 / 99 * 100 - 20.0, 30.0])


@pytest.fixture
def nps_top_box(monkeypatch: pytest.MonkeyPatch) -> str:
    """A metric declared at run time exactly as a developer would add one."""
    metric = Metric(
        "nps_top_box", Share(Measure("nps_tens", metrics.NPS_BASE, metrics.equal_to(10))),
        "NPS top-box % (10 of 10)", "NPS top-box", "%", 1, "pp", True,
        help="Share of 10s among the 0–10 answers.", definition="Share of 10s.",
    )  # fmt: skip
    monkeypatch.setitem(METRICS, metric.name, metric)
    return metric.name


def test_a_new_metric_needs_only_its_declaration(
    nps_top_box: str, store: Store, reference_frame: pd.DataFrame
) -> None:
    s = reference_frame["nps"].dropna()
    tens, n = int((s == 10).sum()), len(s)
    low, high = ref.wilson(tens, n)
    score = queries.kpis(store, Filters()).score(nps_top_box)
    assert score.n == n and close(score.value, 100 * tens / n, 1e-4)
    assert close(score.ci_low, low, 1e-4) and close(score.ci_high, high, 1e-4)
    trend = queries.trend(store, Filters(), "month", metrics=[nps_top_box])
    assert trend["nps_top_box"].notna().any()
    table = segments.segment_vs_rest(store, Filters(), "plan", nps_top_box)
    assert table["significant"].notna().any()
    matrix = queries.friction_matrix(store, Filters(), "touchpoint", "channel", nps_top_box)
    assert matrix["value"].notna().any()


def test_every_metric_can_be_chosen_on_every_page(
    nps_top_box: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(tmp_path).replace_table(schema.RESPONSES, demo.demo_responses(rows=3_000))
    stores.close(tmp_path)
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    labels = {m.label for m in METRICS.values()}
    for page, question in (
        ("pages/trends.py", "Metric"),
        ("pages/touchpoints.py", "Colour by"),
        ("pages/segments.py", "Colour and compare by"),
    ):
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        box = next(s for s in at.selectbox if s.label == question)
        assert set(box.options) == labels, page
