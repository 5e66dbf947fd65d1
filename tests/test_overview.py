"""The Overview's tiles and movers (issue 12: items 1, 2, 7, 8, 9, 12): what the sparklines
draw and say, the metrics tiles' filters and change tests, "no answers" instead of "n too
small (n=0)", movers without the active filters, with display names, for every metric and
clickable. Values are checked against plain pandas on the same data."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata import charts, demo, fmt, kpi_metrics, schema, segments
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.store import Store, connect

ROOT = Path(__file__).resolve().parents[1]
DEMO_END = dt.date(2026, 6, 30)
TIMEOUT = 60


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """20,000 demo responses and the demo metrics, ending 30 Jun 2026."""
    return demo.demo_responses(rows=20_000, end=DEMO_END), demo.demo_metrics(end=DEMO_END)


@pytest.fixture(scope="module")
def demo_dir(
    tmp_path_factory: pytest.TempPathFactory, demo_frames: tuple[pd.DataFrame, pd.DataFrame]
) -> Path:
    path = tmp_path_factory.mktemp("overview_demo")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo_frames[0])
    store.replace_table(schema.METRICS, demo_frames[1])
    return path


@pytest.fixture(scope="module")
def unscored_dir(
    tmp_path_factory: pytest.TempPathFactory, demo_frames: tuple[pd.DataFrame, pd.DataFrame]
) -> Path:
    """An import whose NPS was never mapped: every answer has CSAT/CES, none has NPS."""
    frame = demo_frames[0].head(3_000).copy()
    frame["nps"] = pd.Series(pd.NA, index=frame.index, dtype="Int8")
    frame["csat"] = frame["csat"].fillna(4)
    path = tmp_path_factory.mktemp("overview_unscored")
    connect(path).replace_table(schema.RESPONSES, frame)
    return path


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import streamlit as st

    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    st.cache_data.clear()
    yield


def overview(data_dir: Path, monkeypatch: pytest.MonkeyPatch, **query: str | list[str]) -> AppTest:
    monkeypatch.setenv("CX_DATA_DIR", str(data_dir))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def sparklines(at: AppTest) -> list[dict]:
    return [f for f in figures(at) if f["layout"].get("height") == 56]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def decoded(values: object) -> list:
    """A Plotly array from a figure spec (plain list or base64 typed array)."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)  # type: ignore[arg-type]


# --- item 1: the sparklines draw what the caption says -----------------------------------


def test_sparklines_are_the_12_months_the_caption_names(
    demo_dir: Path, demo_frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = overview(demo_dir, monkeypatch)  # last 90 days: 2 Apr – 30 Jun 2026
    months = [f"{m:%Y-%m-%d}T00:00:00" for m in pd.date_range("2025-07-01", periods=12, freq="MS")]
    spark = sparklines(at)
    assert len(spark) == 4 + 4  # NPS, CSAT, CES, responses + the four metrics KPIs
    for fig in spark:
        assert fig["data"][0]["x"] == months
    assert "Sparklines: one point per month, Jul 2025 – Jun 2026." in " ".join(captions(at))
    assert not any("the last 12 months" in c for c in captions(at))
    # the NPS line: each month's NPS, against plain pandas
    frame = demo_frames[0]
    month = frame["submitted_at"].dt.to_period("M")
    nps = frame["nps"].dropna()
    by_month = ((nps >= 9).groupby(month).mean() - (nps <= 6).groupby(month).mean()) * 100
    expected = by_month.loc["2025-07":"2026-06"].round(6).tolist()
    assert [round(v, 6) for v in decoded(spark[0]["data"][0]["y"])] == expected


def test_a_partial_month_is_marked_and_does_not_dip(
    demo_dir: Path, demo_frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = overview(
        demo_dir, monkeypatch, period="custom", **{"from": "2026-04-01", "to": "2026-06-15"}
    )
    spark = sparklines(at)
    responses = spark[3]["data"]
    assert responses[0]["x"][0] == "2025-07-01T00:00:00" and len(responses[0]["x"]) == 12
    # June so far: answers per day of 1–15 June, not the month's count (no false drop)
    frame = demo_frames[0]
    june = frame[(frame["submitted_at"] >= "2026-06-01") & (frame["submitted_at"] < "2026-06-16")]
    assert math.isclose(decoded(responses[0]["y"])[-1], len(june) / 15)
    assert "Jun 2026 (so far)" in responses[0]["customdata"][-1]
    # the partial month is an open circle on every survey sparkline
    for fig in spark[:4]:
        marker = fig["data"][1]
        assert (
            marker["x"] == ["2026-06-01T00:00:00"] and marker["marker"]["symbol"] == "circle-open"
        )
    text = " ".join(captions(at))
    assert "partial months, drawn as open circles: Jun 2026 (15 of 30 days)" in text


# --- item 2: metrics tiles say which filters they ignore ----------------------------------


def test_every_metrics_tile_names_the_filters_it_cannot_apply(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = overview(demo_dir, monkeypatch, customer_type="business", country="Norway")
    tiles = [c for c in captions(at) if "monthly value" in c]
    assert len(tiles) == 3  # first-contact resolution has no per-country rows: not shown
    assert all("**Not narrowed by Customer type**" in c for c in tiles)
    assert not any("Country" in c.split("Not narrowed by")[-1] for c in tiles)  # applied
    plain = overview(demo_dir, monkeypatch, country="Norway")
    assert not any("Not narrowed" in c for c in captions(plain))


# --- item 7: no answers is not a small base ----------------------------------------------


def test_no_answers_wording() -> None:
    assert fmt.too_small(0) == "no answers"
    assert fmt.too_small(7) == "n too small (n=7)"
    assert fmt.hover_text("nps", None, 0, suppressed=True) == "no answers"
    assert fmt.no_answers("nps", True) == "no NPS answers in this selection"
    assert fmt.no_answers("ces", False) == (
        "no CES answers in this data — map a column on the Data page"
    )


def test_unmapped_nps_says_so_and_links_to_the_data_page(
    unscored_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    at = overview(
        unscored_dir, monkeypatch, period="custom", **{"from": "2024-07-01", "to": "2026-06-30"}
    )
    nps = next(m for m in at.metric if m.label == "NPS")
    assert nps.value == "no answers"
    text = captions(at)
    assert "no NPS answers in this data — map a column on the Data page" in text
    assert not any("n too small (n=" in c for c in text)
    assert [p.proto.page for p in at.page_link if "Data page" in p.proto.label] == ["data"]
    csat = next(m for m in at.metric if m.label == "CSAT")
    assert csat.value.endswith("%")
    # the movers of NPS do not claim that nothing changed
    assert [i.value for i in at.info] == [
        "No NPS answers in this data — map a column on the Data page."
    ]


def test_a_selection_without_nps_answers_says_no_answers(
    demo_dir: Path, demo_frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = demo_frames[0]
    # a day with answers but no NPS answer among them, inside one channel
    day = frame.assign(day=frame["submitted_at"].dt.date)
    groups = day.groupby(["day", "channel"])["nps"].agg(["size", "count"])
    (when, channel) = groups[(groups["size"] > 0) & (groups["count"] == 0)].index[-1]
    at = overview(demo_dir, monkeypatch, period="custom", channel=channel,
                  **{"from": str(when), "to": str(when)})  # fmt: skip
    assert next(m for m in at.metric if m.label == "NPS").value == "no answers"
    assert "no NPS answers in this selection" in captions(at)


# --- item 8: movers leave out the filtered dimension and show display names ----------------


@pytest.fixture(scope="module")
def movers_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two months; in February Premium customers and Norwegian speakers turn promoters."""
    rng = np.random.default_rng(8)
    n = 8_000
    when = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 59 * 86_400, n), "s")
    plan = rng.choice(["Basic", "Premium"], n)
    language = rng.choice(["no", "sv"], n)
    late = when >= pd.Timestamp("2025-02-01")
    nps = rng.integers(0, 11, n)
    lift = late & (plan == "Premium") & (language == "no")
    nps = np.where(lift, rng.integers(8, 11, n), nps)
    frame = pd.DataFrame(
        {
            "response_id": [f"m{i}" for i in range(n)],
            "submitted_at": when,
            "nps": pd.Series(nps, dtype="Int8"),
            "csat": pd.Series(pd.NA, index=range(n), dtype="Int8"),
            "ces": pd.Series(pd.NA, index=range(n), dtype="Int8"),
            "plan": plan,
            "language": language,
            "channel": rng.choice(["web", "store"], n),
        }
    )
    store = connect(tmp_path_factory.mktemp("movers"))
    store.replace_table(schema.RESPONSES, frame)
    return store


JAN = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
FEB = Filters.make(dt.date(2025, 2, 1), dt.date(2025, 2, 28))


def test_movers_leave_out_a_dimension_filtered_to_one_value(movers_store: Store) -> None:
    dims = ["plan", "language", "channel"]
    both = segments.movers(movers_store, FEB, JAN, dims, "nps", Thresholds())
    assert ("plan", "Premium") in set(zip(both["dimension"], both["value"], strict=True))
    cur, prev = FEB.with_where("plan", ["Premium"]), JAN.with_where("plan", ["Premium"])
    found = segments.movers(movers_store, cur, prev, dims, "nps", Thresholds())
    assert "plan" not in set(found["dimension"])  # "Plan: Premium" is the selection itself
    assert ("language", "no") in set(zip(found["dimension"], found["value"], strict=True))


def test_movers_show_language_names() -> None:
    frame = pd.DataFrame(
        {"dimension": ["language", "plan"], "value": ["no", "(not set)"], "now": [40.0, 10.0],
         "prev": [20.0, 18.0], "change": [20.0, -8.0], "n_now": [500, 300],
         "n_prev": [480, 320], "stat": [5.0, -2.2]}
    )  # fmt: skip
    fig = charts.movers_figure(frame, "nps")
    assert list(fig.data[0].y) == ["Plan: (missing)", "Language: Norwegian"]


# --- item 9: metrics tiles test the change on the counts, like with like ------------------


def metrics_frame(base: bool) -> pd.DataFrame:
    months = pd.date_range("2025-01-01", "2025-12-01", freq="MS")
    rows = []
    for country, level, customers in (("NO", 3.0, 40_000.0), ("SE", 4.0, 60_000.0)):
        for i, m in enumerate(months):
            rows.append(
                {"date": m, "metric": "churn rate", "value": level + 0.1 * i, "unit": "%",
                 "touchpoint": None, "country": country, "target": 3.0,
                 "base": customers + 100 * i if base else np.nan}
            )  # fmt: skip
    return pd.DataFrame(rows)


# 2 monthly values now (May, Jun), 3 before (Feb, Mar, Apr): compared 2 with 2
CUR_2 = Filters.make(dt.date(2025, 4, 15), dt.date(2025, 6, 30))
PREV_3 = Filters.make(dt.date(2025, 1, 15), dt.date(2025, 4, 14))


def test_a_rate_with_its_base_is_tested_on_the_counts(tmp_path: Path) -> None:
    frame = metrics_frame(base=True)
    store = connect(tmp_path)
    store.replace_table(schema.METRICS, frame)
    (k,) = kpi_metrics.metric_kpis(store, CUR_2, PREV_3)

    def pooled(first: str, last: str) -> tuple[float, float]:
        part = frame[(frame["date"] >= first) & (frame["date"] <= last)]
        return float((part["value"] / 100 * part["base"]).sum()), float(part["base"].sum())

    x1, n1 = pooled("2025-05-01", "2025-06-01")
    x2, n2 = pooled("2025-03-01", "2025-04-01")  # the comparison's latest 2 months
    p1, p2 = x1 / n1, x2 / n2
    z = (p1 - p2) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    assert math.isclose(k.value, 100 * p1) and math.isclose(k.previous, 100 * p2)
    assert math.isclose(k.stat, z) and k.significant is (abs(z) > 1.96)
    assert (k.points, k.previous_points, k.cadence) == (2, 2, "monthly")
    assert k.base == n1 and k.previous_base == n2 and k.untested == ""
    assert k.note == (
        f"tested on the counts: {x1:,.0f} of {n1:,.0f} vs {x2:,.0f} of {n2:,.0f} "
        f"(two-proportion z = {z:.2f})"
    )


def test_without_a_base_few_values_are_shown_not_tested(tmp_path: Path) -> None:
    frame = metrics_frame(base=False)
    store = connect(tmp_path)
    store.replace_table(schema.METRICS, frame)
    (k,) = kpi_metrics.metric_kpis(store, CUR_2, PREV_3)
    per_date = frame.groupby("date")["value"].mean()
    assert math.isclose(k.value, per_date.loc["2025-05-01":"2025-06-01"].mean())
    assert math.isclose(
        k.previous, per_date.loc["2025-03-01":"2025-04-01"].mean()
    )  # like with like
    assert k.significant is None and k.untested == "too few values"
    assert k.note == (
        "2 monthly values per period: too few to test (a test needs 3+ values, or a % rate "
        "with its base; here no base to count on); the change is shown, not tested"
    )


def test_a_store_from_before_the_base_column_still_reads(tmp_path: Path) -> None:
    frame = metrics_frame(base=False).drop(columns="base")
    store = connect(tmp_path)
    store.replace_table(schema.METRICS, frame)
    series = kpi_metrics.metric_series(store, Filters())
    assert (series["based"] == 0).all() and series["base"].isna().all()


def test_demo_churn_tile_is_tested_at_the_default_90_days(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = overview(demo_dir, monkeypatch)
    churn = next(m for m in at.metric if m.label == "Churn rate")
    assert churn.proto.delta_description in {"significant", "not significant"}
    wait = next(m for m in at.metric if m.label == "Support wait time")
    assert wait.proto.delta_description == "not tested"  # why: the caption below
    text = " ".join(captions(at))
    assert "the change is shown, not tested" in text and "Tested on the counts" in text
    # 2 Apr – 30 Jun holds May and Jun; 2 Jan – 1 Apr holds Feb, Mar and Apr: like with like
    churn_note = next(c for c in captions(at) if c.startswith("rate of 2 monthly values"))
    assert "(May – Jun 2026)" in churn_note and "Previous period (Mar – Apr 2026): " in churn_note


# --- item 12: movers for every metric, each clickable --------------------------------------


def test_movers_metric_is_a_choice_in_the_url(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = overview(demo_dir, monkeypatch, metric="csat", period="12m")
    assert at.selectbox(key="overview.metric").value == "csat"
    (movers,) = [f for f in figures(at) if f["data"][0].get("type") == "bar"]
    assert movers["layout"]["xaxis"]["title"]["text"] == "change in CSAT (pp)"
    assert at.query_params["metric"] in ("csat", ["csat"])
    at.selectbox(key="overview.metric").set_value("friction").run()
    (movers,) = [f for f in figures(at) if f["data"][0].get("type") == "bar"]
    assert movers["layout"]["xaxis"]["title"]["text"] == "change in Friction rate (pp)"


def test_a_mover_bar_names_its_segment() -> None:
    frame = pd.DataFrame(
        {"dimension": ["language"], "value": ["no"], "now": [40.0], "prev": [20.0],
         "change": [20.0], "n_now": [500], "n_prev": [480], "stat": [5.0]}
    )  # fmt: skip
    bar = charts.movers_figure(frame, "nps").data[0]
    assert bar.hovertemplate == "%{customdata[0]}<extra></extra>"
    point = {"customdata": list(bar.customdata[0])}
    assert charts.mover_pick({"points": [point]}) == ("language", "no")
    assert charts.mover_pick({"points": []}) is None
